"""The layout holds: the core never imports the dashboard's package, streamlit or plotly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(p for p in (ROOT / "bedash").glob("*.py"))
FORBIDDEN = ("streamlit", "plotly", "bedash.dashboard")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (relative imports made absolute)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from .app import x / from . import app -> bedash.dashboard...
                base = "bedash" + (f".{node.module}" if node.module else "")
                found |= {base} | {f"{base}.{a.name}" for a in node.names}
            elif node.module:
                found.add(node.module)
    return found


def test_the_core_never_imports_the_app_streamlit_or_plotly() -> None:
    assert CORE, "no core modules found"
    bad = {
        p.name: sorted(m for m in _imports(p) if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN
                       or m.startswith("bedash.dashboard"))
        for p in CORE
    }  # fmt: skip
    assert not {k: v for k, v in bad.items() if v}


def test_importing_the_core_loads_none_of_them() -> None:
    """Also at run time: importing every core module pulls in no streamlit, plotly or app."""
    names = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in CORE
        if p.stem != "__main__"
    ]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')"
        " or m.startswith('bedash.dashboard')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
