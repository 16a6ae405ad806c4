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


# -- the house's shape: the import graph of everything but the tests -----------------------------
SOURCES = sorted(
    p
    for p in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("benchmarks/*.py"),
              *ROOT.glob("bedash/**/*.py")]
)  # fmt: skip
MAX_FLOORS = 7  # the longest chain of imports, counted in modules (issue 19)
MAX_LINES = 450


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (anywhere in the file, relative made absolute;
    `from pkg import name` counts pkg, and pkg.name where that is a module)."""
    modules = {_module(p): p for p in SOURCES}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package[: len(package) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain (a loop would recurse forever: the loop test runs first)."""
    best: dict[str, list[str]] = {}

    def chain(m: str, seen: tuple[str, ...]) -> list[str]:
        if m in seen:
            raise AssertionError(f"import loop: {' -> '.join([*seen, m])}")
        if m not in best:
            below = [chain(n, (*seen, m)) for n in graph[m]]
            best[m] = [m, *max(below, key=len, default=[])]
        return best[m]

    return max((chain(m, ()) for m in graph), key=len)


def test_the_import_graph_has_no_loops_and_at_most_seven_floors() -> None:
    longest = _longest_chain(_graph())  # raises on a loop, naming it
    assert len(longest) <= MAX_FLOORS, " -> ".join(longest)


def test_no_module_imports_another_modules_private_names() -> None:
    modules = {_module(p) for p in SOURCES}
    bad = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
                bad += [
                    f"{_module(path)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not bad


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in SOURCES
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
