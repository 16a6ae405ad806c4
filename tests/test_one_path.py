"""One path in (issue 24): outside bedash/store, no module reads a file another way than the
store's validated readers (no link followed, no FIFO opened, sizes capped, cells typed and
bounded). The code is walked with `ast`: every call that opens or reads a file is refused,
unless this allow-list names it with the reason it is not a run or sweep file."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for p in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("bedash/**/*.py")]
    if "store" not in p.relative_to(ROOT).parts[:2]
)
# calls, by what they resolve to through the module's imports, that open or read a file
READS = {
    "builtins.open", "io.open", "os.open", "os.fdopen", "codecs.open", "gzip.open", "bz2.open",
    "lzma.open", "tarfile.open", "shelve.open", "json.load", "pickle.load", "marshal.load",
    "csv.reader", "csv.DictReader", "numpy.load", "numpy.fromfile", "numpy.loadtxt",
    "numpy.genfromtxt", "numpy.memmap", "torch.load", "PIL.Image.open", "mmap.mmap",
    "urllib.request.urlopen", "zipfile.ZipFile", "shutil.copy", "shutil.copy2",
    "shutil.copyfile", "shutil.copyfileobj", "shutil.copytree", "sqlite3.connect",
}  # fmt: skip
READ_PREFIXES = ("pandas.read_",)  # pd.read_csv, pd.read_json, pd.read_table...
# methods of a value (a Path, a file, an unpickler...) that open or read a file
READ_METHODS = {"open", "read_text", "read_bytes", "load", "readinto", "read_csv", "read_table"}

ALLOWED = {  # (module, the call as written): why it is not a run or sweep file
    ("bedash/method/budget.py", "Path('/proc/meminfo').read_text"): "the kernel's memory count",
    ("bedash/method/budget.py", "limit_file.read_text"): "a cgroup's memory limit (/sys)",
    ("bedash/method/budget.py", "usage_file.read_text"): "a cgroup's memory use (/sys)",
    ("bedash/benchmark/run.py", "Path('/proc/cpuinfo').read_text"): "the CPU's name",
    ("bedash/benchmark/report.py", "open"): "writes bench's own CSVs (mode 'w')",
    ("bedash/uncertainty/evaluation.py", "path.open"): "its own temporary file of images",
    ("bedash/uncertainty/evaluation.py", "f.readinto"): "that file, into its buffer",
    ("bedash/data/uploads.py", "zipfile.ZipFile"): "an uploaded dataset, in memory",
    ("bedash/data/uploads.py", "archive.open"): "a member of that uploaded zip",
    ("bedash/data/uploads.py", "open"): "writes an image of that zip (mode 'wb')",
    ("bedash/data/cifar10.py", "urllib.request.urlopen"): "downloads CIFAR-10 (MD5-checked)",
    ("bedash/data/cifar10.py", "open"): "the download's file, and a batch read as a pickle",
    (
        "bedash/data/cifar10.py",
        "_SafeUnpickler(f, encoding='latin1').load",
    ): "a CIFAR-10 batch through an unpickler that allows only arrays and plain values",
    ("bedash/data/load.py", "torch.load"): "the dataset's tensor cache, weights_only=True",
    ("bedash/data/folder.py", "Image.open"): "an image of a dataset folder",
    ("bedash/data/folder.py", "im.load"): "that image's pixels",
    ("bedash/dashboard/rundata.py", "zipfile.ZipFile"): "writes a run's zip in memory",
}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Name -> the dotted name it was imported as, from every import of the module."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _resolve(func: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name a call's function resolves to, or None for a value's method."""
    if isinstance(func, ast.Name):
        if func.id in aliases:
            return aliases[func.id]
        return f"builtins.{func.id}" if hasattr(builtins, func.id) else f"local.{func.id}"
    if isinstance(func, ast.Attribute):
        base = _resolve(func.value, aliases) if isinstance(func.value, ast.Name | ast.Attribute) else None
        if base and not base.startswith(("local.", "builtins.")):
            return f"{base}.{func.attr}"
    return None


def _zips(tree: ast.Module, aliases: dict[str, str]) -> set[str]:
    """Names bound to a ZipFile (its .write(path) reads path)."""
    names = set()
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            pairs = [(node.context_expr, node.optional_vars.id)]
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                pairs = [(node.value, node.targets[0].id)]
        for value, name in pairs:
            if isinstance(value, ast.Call) and _resolve(value.func, aliases) == "zipfile.ZipFile":
                names.add(name)
    return names


def reads(path: Path) -> list[tuple[str, int]]:
    """(the call as written, line) of every call in path that opens or reads a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = _aliases(tree)
    zips = _zips(tree, aliases)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _resolve(node.func, aliases)
        if name is not None:
            if name.startswith("bedash."):
                continue  # bedash's own function: checked where it is defined
            bad = name in READS or name.startswith(READ_PREFIXES)
        else:
            attr = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            zipped = attr == "write" and ast.unparse(node.func.value) in zips
            bad = attr in READ_METHODS or zipped
        if bad:
            found.append((ast.unparse(node.func), node.lineno))
    return found


def test_the_walk_finds_what_it_looks_for() -> None:
    """The checker itself: each way of reading a file is found, the store's readers are not."""
    code = (
        "import json, csv\nimport pandas as pd\nimport zipfile\n"
        "from bedash.store.readers import read_bytes, read_table\n"
        "from pathlib import Path\n"
        "def f(p):\n"
        "    pd.read_csv(p / 'summary.csv'); p.read_bytes(); (p / 'x').read_text()\n"
        "    json.load(open(p)); csv.DictReader(p.open()); read_bytes(p, 9); read_table(p, {})\n"
        "    with zipfile.ZipFile(p, 'w') as z:\n        z.write(p)\n"
    )
    tmp = ROOT / "tests" / "_one_path_probe.py"
    tmp.write_text(code)
    try:
        got = {c for c, _ in reads(tmp)}
    finally:
        tmp.unlink()
    want = {"pd.read_csv", "p.read_bytes", "(p / 'x').read_text", "json.load", "open"}
    assert got == want | {"csv.DictReader", "p.open", "zipfile.ZipFile", "z.write"}


def test_no_module_reads_a_file_around_the_validated_readers() -> None:
    found, used = [], set()
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        for call, line in reads(path):
            if (rel, call) in ALLOWED:
                used.add((rel, call))
            else:
                found.append(f"{rel}:{line}: {call}")
    assert not found, "read through bedash.store.readers / runfiles / sweepfiles:\n" + "\n".join(
        found
    )
    assert used == set(ALLOWED), f"allow-list entries that match nothing: {set(ALLOWED) - used}"
