"""python -m bedash: see bedash/cli.py."""

import sys

try:
    from bedash.cli import interrupted, main
except KeyboardInterrupt:  # Ctrl-C while the CLI itself is imported: main cannot catch it yet
    print("\nbedash: interrupted", file=sys.stderr)
    sys.exit(130)

try:
    code = main()
except KeyboardInterrupt:  # between main's return and here, or a main replaced in a test
    code = interrupted()
sys.exit(code)
