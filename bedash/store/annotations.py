"""Tags and notes of a run, editable after it ended: annotations.json in the run folder,
written atomically (a reader sees the old file or the new one). The run's own files are never
touched, so annotating cannot damage a finished run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bedash.names import FieldError
from bedash.store.atomic import atomic_write_text
from bedash.store.readers import read_json

FILE = "annotations.json"
MAX_TAGS, MAX_TAG, MAX_NOTES = 20, 40, 2000
TAG_RE = re.compile(r"^[\w][\w .+:/=-]*$")  # no commas: the table lists tags comma-separated


@dataclass(frozen=True)
class Annotations:
    tags: tuple[str, ...] = ()
    notes: str = ""


def parse_tags(text: str) -> tuple[str, ...]:
    """'a, b ,a' -> ('a', 'b'): comma-separated, trimmed, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def check(ann: Annotations) -> Annotations:
    """Raise FieldError ("tags" or "notes") for what cannot be stored."""
    if len(ann.tags) > MAX_TAGS:
        raise FieldError("tags", f"at most {MAX_TAGS} tags, got {len(ann.tags)}")
    for tag in ann.tags:
        if len(tag) > MAX_TAG:
            raise FieldError("tags", f"'{tag[:20]}…' is longer than {MAX_TAG} characters")
        if not TAG_RE.match(tag):
            raise FieldError(
                "tags", f"'{tag}': letters, digits and _ . + : / = - only (commas separate tags)"
            )
    if len(ann.notes) > MAX_NOTES:
        raise FieldError("notes", f"at most {MAX_NOTES} characters, got {len(ann.notes)}")
    return ann


def read(run_dir: str | os.PathLike) -> Annotations:
    """The run's annotations; none (or a damaged file, a link, a FIFO) reads as empty, never an
    error and never a wait."""
    try:
        data = read_json(Path(run_dir) / FILE)
    except (OSError, ValueError):
        return Annotations()
    if not isinstance(data, dict):
        return Annotations()
    tags = data.get("tags", [])
    notes = data.get("notes", "")
    return Annotations(
        tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        notes if isinstance(notes, str) else "",
    )


def write(run_dir: str | os.PathLike, ann: Annotations) -> None:
    """Store ann (checked) in the run folder, atomically; the folder must exist."""
    path = Path(run_dir)
    check(ann)
    if not path.is_dir():
        raise FieldError("run", f"{path} is not a run folder")
    text = json.dumps({"tags": list(ann.tags), "notes": ann.notes}, indent=2, ensure_ascii=False)
    atomic_write_text(path / FILE, text + "\n")
