"""The one-line summary of a run's settings (a config.json dict), as the run lists show it."""

from __future__ import annotations

from typing import Any

from bedash.settings.types import is_number


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
