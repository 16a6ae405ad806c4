"""A run's config.json as the run lists show it: whether it can be shown (`config_problem`),
and its one-line summary."""

from __future__ import annotations

import json
from typing import Any

from bedash.settings.config import config_fields
from bedash.settings.types import Spec, is_number


def config_problem(d: dict[str, Any]) -> str:
    """Why a config.json dict cannot be shown (a wrong type, a NaN, an absurd integer), or "".
    Missing fields (an older run) and unknown keys (a newer version's) are fine."""
    for s in config_fields(extra=True):
        if s.name in d and not _stored_ok(s, d[s.name]):
            return f"config.json has a bad {s.name!r}: {_short(d[s.name])}"
    if d.get("_meta") is not None and not isinstance(d["_meta"], dict):
        return f"config.json has a bad '_meta': {_short(d['_meta'])}"
    return ""


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)  # escapes control characters: safe to print
    except (TypeError, ValueError):
        text = ascii(value)
    return text[:40]


def _stored_ok(s: Spec, value: Any) -> bool:
    return s.optional if value is None else s.type.stored_ok(value, s)


def config_summary(d: dict[str, Any]) -> str:
    """One line: dataset and sizes, architecture, E, epochs, batch, learning rate, seed."""

    def count(value: object) -> str:
        if value in (None, ""):
            return "all"
        return f"{value:,}" if is_number(value) else str(value)

    dataset = str(d.get("dataset", ""))
    if "/" in dataset:  # an image folder: its name is enough
        dataset = dataset.rstrip("/").rsplit("/", 1)[-1]
    shape = {
        "mlp": f"{d.get('layers')} × {d.get('hidden')}",
        "resnet": f"{d.get('depth')}, width {d.get('width')}",  # RESNET-18, width 64
    }.get(str(d.get("arch")), f"{d.get('channels')} channels, width {d.get('hidden')}")
    sep = "-" if d.get("arch") == "resnet" else " "
    return (
        f"{dataset} ({count(d.get('train_size'))} train / {count(d.get('test_size'))} test "
        f"images) · {str(d.get('arch', '')).upper()}{sep}{shape} · E = {d.get('members')} · "
        f"{d.get('epochs')} epochs · batch {d.get('batch_size')} · lr {d.get('lr')} · "
        f"seed {d.get('seed')}"
    )
