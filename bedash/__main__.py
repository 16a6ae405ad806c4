"""python -m bedash: see bedash/cli.py."""

import sys

from .cli import main

sys.exit(main())
