"""The README's two commands and CI stay in step; documented flags exist."""

from __future__ import annotations

import re
from pathlib import Path

from bedash.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _test_command() -> str:
    block = README.split("<!-- test-command", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", block, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line.strip() for line in ci if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == _test_command()
    assert "pytest" in _test_command()
    assert any("apt-get install -y chromium" in c for c in commands)
    assert any("BEDASH_REQUIRE_BROWSER=1" in c for c in commands)
    assert "set -euo pipefail" in commands  # a failing (or empty, exit 5) pytest fails CI


def test_quick_start_starts_the_dashboard() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "pip install -r requirements.txt && streamlit run app.py" in quick
    assert (ROOT / "app.py").is_file()


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_install_says_how_to_get_cpu_only_torch_and_names_real_extras() -> None:
    import tomllib

    install = _section("Install")
    first = re.search(r"```bash\n(.+?)\n```", install, re.S).group(1).splitlines()
    assert (
        first[0] == "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
    )
    assert first[1:] == ['pip install ".[ray]"', "bedash --version"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    named = set(re.findall(r"\n?`(\w+)` \(", install.split("The extras:", 1)[1]))
    assert named == set(extras), named ^ set(extras)


def test_documented_train_flags_exist() -> None:
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    known = {opt for action in train._actions for opt in action.option_strings}
    section = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(--[a-z-]+)", section))
    assert documented and documented <= known, documented - known


def test_requirements_pin_torch_and_torchvision() -> None:
    req = (ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in req and "torchvision==0.29.1" in req
    for pkg in ("streamlit", "plotly", "pandas"):
        assert re.search(rf"^{pkg}==", req, re.M), pkg
