"""Which devices this machine has, and turning a device name into a torch.device."""

from __future__ import annotations

import torch

from bedash.names import ConfigError


def available_devices() -> list[str]:
    """'cpu', then every CUDA device ('cuda:0', ...), then 'mps' where present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, then mps, then cpu. An unavailable device is a ConfigError that lists the
    available ones."""
    avail = available_devices()
    if name == "auto":
        for pick in ("cuda:0", "mps", "cpu"):
            if pick in avail:
                return torch.device(pick)
    wanted = "cuda:0" if name == "cuda" else name
    if wanted in avail:
        return torch.device(wanted)
    raise ConfigError(
        "device", f"{name!r} is not available here; available: auto, {', '.join(avail)}"
    )
