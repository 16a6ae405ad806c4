"""Limits: the caps RunConfig.validate enforces (a profile such as the demo tightens them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the caps, written once: RunConfig's metadata and Limits' defaults both read them
MAX_MEMBERS = 64  # beyond this a BatchEnsemble stops being a sensible comparison
MAX_HIDDEN = 16384  # a 3072 x 16384 layer is already 200 MB of weights
MAX_LAYERS = 16
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_CHANNELS = 1024  # the CNN's first block; x4 by the last, 4096 channels is plenty
MAX_SIZE = 10**9  # images in a split: far beyond any dataset bedash can hold in memory


@dataclass(frozen=True)
class Limits:
    """Upper bounds enforced by `RunConfig.validate`. The demo profile tightens them."""

    max_members: int = MAX_MEMBERS
    max_hidden: int = MAX_HIDDEN
    max_layers: int = MAX_LAYERS
    max_epochs: int = MAX_EPOCHS
    max_batch_size: int = MAX_BATCH_SIZE
    max_train_size: int | None = None  # None: the whole split
    max_wall_seconds: float | None = None  # per job; enforced by the runner, not here
    unwatched_seconds: float | None = None  # the runner stops a job no page polled this long
    max_running: int | None = None  # jobs training at once on the server (None: its setting)
    torch_threads: int | None = None  # intra-op threads of a job (None: torch's default)
    eval_batch_size: int | None = None  # the runner evaluates at most this many images at once
    cpu_only: bool = False  # a shared host: no GPU jobs
    dataset_roots: tuple[str, ...] | None = None  # image folders only inside these (None: any)
    name: str = "default"  # shown in messages ("demo limit")

    def allows_folder(self, folder: str) -> bool:
        """Whether an image folder may be read: anywhere, or only under `dataset_roots`."""
        if self.dataset_roots is None:
            return True
        path, roots = Path(folder).resolve(), [Path(r).resolve() for r in self.dataset_roots]
        return any(path == r or r in path.parents for r in roots)


DEFAULT_LIMITS = Limits()
