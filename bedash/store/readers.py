"""Reading files without trusting them: every file, cell and string is checked.

- Only regular files are opened (lstat first): a FIFO would block forever, a device may never
  end, a symbolic link may lead anywhere. Bytes read are capped.
- A CSV file is read against its schema (column -> Cell: type, bounds, need; bedash.store.runfiles
  declares them) by `read_table`: anything out of place is a FileProblem naming the file, the
  line and the column.
- Text that reaches a user goes through `safe_text`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

JSON_LIMIT = 1 << 20  # config.json, status.json: a few KiB when bedash writes them
CSV_LIMIT = 64 << 20  # history.csv of 10,000 epochs x 64 members is ~30 MiB
TEXT_LIMIT = 500  # characters of a reason or a name shown to a user
Row = dict[str, Any]
_UNSEEN = object()


class FileProblem(ValueError):
    """One run file cannot be used; str(e) says which file and why (safe to print)."""


# -- text --------------------------------------------------------------------------------------


def safe_text(value: Any, limit: int = TEXT_LIMIT, *, newlines: bool = False) -> str:
    """value as text that is safe to print on a terminal or a page: control and formatting
    characters (ESC, bidi overrides...) escaped as \\xNN / \\uNNNN, lone surrogates replaced
    by U+FFFD, at most `limit` characters (then '…'). newlines=True keeps \\n and \\t."""
    text = value if isinstance(value, str) else str(value)
    out: list[str] = []
    for ch in text[: limit + 1]:
        cat = unicodedata.category(ch)
        if cat == "Cs":
            out.append("\ufffd")
        elif newlines and ch in "\n\t":
            out.append(ch)
        elif cat in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    return s[:limit] + "…" if len(text) > limit or len(s) > limit else s


def clean_json(value: Any, limit: int = 2000) -> Any:
    """A JSON value with every string (keys included) made safe_text (newlines kept)."""
    if isinstance(value, str):
        return safe_text(value, limit, newlines=True)
    if isinstance(value, list):
        return [clean_json(v, limit) for v in value]
    if isinstance(value, dict):
        return {safe_text(k, 200): clean_json(v, limit) for k, v in value.items()}
    return value


# -- files -------------------------------------------------------------------------------------


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}
_KINDS |= dict.fromkeys((stat.S_IFCHR, stat.S_IFBLK), "a device")


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most limit bytes. FileNotFoundError when absent;
    FileProblem for a link, a FIFO, a device, a folder or a larger file. Never blocks."""
    name = safe_text(path.name, 100)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise FileProblem(f"{name} is a symbolic link (bedash writes none; it is not followed)")
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise FileProblem(f"{name} is {kind}, not a file bedash wrote")
    if st.st_size > limit:
        raise FileProblem(f"{name} is larger than {limit >> 20} MiB ({st.st_size} bytes)")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
            raise FileProblem(f"{name} is not a regular file")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileProblem(f"{name} is larger than {limit >> 20} MiB")
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, data: bytes | None = None) -> Any:
    """The JSON value of path (or of its bytes `data`); FileNotFoundError when absent,
    FileProblem when unusable."""
    data = read_bytes(path, JSON_LIMIT) if data is None else data
    name = safe_text(path.name, 100)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise FileProblem(f"invalid JSON in {name} (not UTF-8 text)") from None
    except RecursionError:
        raise FileProblem(f"invalid JSON in {name} (nested too deeply)") from None
    except ValueError as e:
        raise FileProblem(f"invalid JSON in {name} ({safe_text(e, 120)})") from None


# -- cells: a column's type and bounds, declared once ------------------------------------------

# optional: an older file may lack the column (its cells read None); column: the header must
# have it, an empty cell reads None; required: the header must have it and no cell is empty
Need = Literal["optional", "column", "required"]


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One column's kind. parse(text) gives the cell's value or raises ValueError saying why
    (without the cell); accepts(value) says whether a JSON value is of this kind."""

    need: Need = "optional"

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError


def column(cell: Cell) -> Cell:
    """cell, as a column the header must have (its cells may be empty)."""
    return replace(cell, need="column")


def required(cell: Cell) -> Cell:
    """cell, as a column the header must have and no row may leave empty."""
    return replace(cell, need="required")


@dataclass(frozen=True)
class Int(Cell):
    lo: int
    hi: int

    def parse(self, text: str) -> int:
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 20):
            raise ValueError("is not a whole number")
        v = int(text)
        if not self.lo <= v <= self.hi:
            raise ValueError(f"is outside {self.lo}..{self.hi}")
        return v

    def accepts(self, value: Any) -> bool:
        return type(value) is int and self.lo <= value <= self.hi


_INF = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


@dataclass(frozen=True)
class Float(Cell):
    lo: float
    hi: float
    infinite: bool = False  # inf and -inf are values too (a diverged epoch's loss)

    def parse(self, text: str) -> float:
        try:  # float() first: the common case costs one call (history.csv has 100k cells)
            v = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        if not text.isascii() or "_" in text or text[0].isspace() or text[-1].isspace():
            raise ValueError("is not a number")  # what float() takes and bedash never writes
        if v - v != 0.0:  # inf or nan
            low = text.lower()
            if self.infinite and low in _INF:
                return _INF[low]
            raise ValueError("is not a number" if low in _WORDS else "is not a finite number")
        if not self.lo <= v <= self.hi:
            raise ValueError(f"is outside {self.lo:g}..{self.hi:g}")
        return v

    def accepts(self, value: Any) -> bool:
        if type(value) not in (int, float):
            return False
        return self.lo <= value <= self.hi or (self.infinite and value in (math.inf, -math.inf))


@dataclass(frozen=True)
class Text(Cell):
    """Any text, made safe_text and capped (a name a newer version may add, a device...)."""

    limit: int = 300

    def parse(self, text: str) -> str:
        return safe_text(text, self.limit)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


@dataclass(frozen=True)
class Choice(Cell):
    allowed: tuple[str, ...]

    def parse(self, text: str) -> str:
        if text not in self.allowed:
            raise ValueError(f"is not one of {', '.join(self.allowed)}")
        return text

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.allowed


@dataclass(frozen=True)
class Match(Cell):
    """Text that matches pattern (a model name...); `what` names it in the message."""

    pattern: re.Pattern[str]
    what: str

    def parse(self, text: str) -> str:
        if not self.pattern.match(text):
            raise ValueError(f"is not {self.what}")
        return text

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and bool(self.pattern.match(value))


Schema = dict[str, Cell]  # a file's columns (or a JSON object's keys), in the file's order


def record_problem(name: str, obj: Any, schema: Schema) -> str:
    """Why the JSON value obj (of the file name) does not fit schema, or "": it must be an
    object with every required key, each key the schema names absent, null or of its kind;
    keys the schema does not name are free (a newer version may add some)."""
    if not isinstance(obj, dict):
        return f"{name} is not a JSON object"
    for key, cell in schema.items():
        if obj.get(key) is None and cell.need == "required":
            return f"{name} has no '{key}'"
        if obj.get(key) is not None and not cell.accepts(obj[key]):
            shown = safe_text(json.dumps(obj[key], default=str)[:40], 40)
            return f"{name} has a bad '{key}': {shown}"
    return ""


# -- tables ------------------------------------------------------------------------------------


def csv_rows(
    path: Path, data: bytes | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a whole CSV file bedash wrote (data: its bytes,
    already read by read_bytes: a download serves the very bytes that were checked)."""
    name = safe_text(path.name, 100)
    try:
        text = (read_bytes(path, CSV_LIMIT) if data is None else data).decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"{name} is not UTF-8 text") from None
    if not text:
        raise FileProblem(f"{name} is empty")
    if not text.endswith("\n"):
        raise FileProblem(f"{name} is truncated (no final newline)")
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise FileProblem(f"{name} is not valid CSV ({safe_text(e, 100)})") from None
    header, rows = lines[0], lines[1:]
    return header, [(i, r) for i, r in enumerate(rows, 2)]


def read_table(path: Path, schema: Schema, data: bytes | None = None) -> list[Row]:
    """Typed rows of the CSV file path (or of its bytes `data`), read against its schema: every
    column of the schema in every row, in the schema's order (None when empty, or absent from
    an older file); FileNotFoundError when there is no file, FileProblem for anything else."""
    name = safe_text(path.name, 100)
    header, rows = csv_rows(path, data)
    missing = [c for c, cell in schema.items() if cell.need != "optional" and c not in header]
    if missing:
        raise FileProblem(f"{name} lacks columns {missing}")
    if len(set(header)) != len(header):
        raise FileProblem(f"{name} repeats a column")
    n = len(header)
    plan = []
    for col, cell in schema.items():
        i = header.index(col) if col in header else -1
        plan.append((col, i, cell.parse, cell.need == "required", {"": None}))
    out: list[Row] = []
    for line, cells in rows:
        if len(cells) != n:
            raise FileProblem(f"{name} line {line} has the wrong number of cells")
        row: Row = {}
        for col, i, parse, needed, seen in plan:
            text = cells[i] if i >= 0 else ""
            # the same cell text parses to the same value: model names, members and epochs
            # repeat on every row of history.csv (a memo halves the time of a long one)
            got = seen.get(text, _UNSEEN)
            if got is _UNSEEN:
                try:
                    got = parse(text)
                except ValueError as e:
                    shown = safe_text(text, 20)
                    raise FileProblem(f"{name} line {line}: {col} '{shown}' {e}") from None
                if len(seen) < 256:
                    seen[text] = got
            elif got is None and needed:
                raise FileProblem(f"{name} line {line}: {col} is empty")
            row[col] = got
        out.append(row)
    return out
