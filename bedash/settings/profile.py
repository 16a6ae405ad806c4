"""Profiles: the default (a user's own machine) and `demo` (a public hosted demo).
BEDASH_PROFILE=demo (environment variable, or a Streamlit secret passed in by the app) caps
what one job may ask for, wherever a RunConfig is validated."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from bedash.settings.limits import DEFAULT_LIMITS, Limits

DEMO_LIMITS = Limits(
    max_members=8,  # the demo's whole point fits in 8 members
    max_hidden=512,
    max_epochs=10,
    max_train_size=10_000,  # a job must finish in minutes on a shared 0.1-2 CPU host
    max_wall_seconds=600.0,
    unwatched_seconds=120.0,  # a closed tab must not hold the only slot for ten minutes
    max_running=1,  # one job at a time; the others queue
    # one intra-op thread: on a shared host a second torch thread waits for a busy core at
    # every parallel region. Measured on 2 cores busy with other work (synthetic 3,000 images,
    # E = 5, width 128, BatchEnsemble + single): 1 thread trains in 0.8-0.9 s, 2 in 2.0-33 s
    torch_threads=1,
    eval_batch_size=100,  # 8 members x 500 images of 3072 floats is ~100 MB more at the peak
    cpu_only=True,
    dataset_roots=(),  # replaced by the uploads folder in demo_limits()
    name="demo",
)
DEMO_MAX_UPLOAD_FILES = 20_000
DEMO_UPLOADS_MAX_AGE = 6 * 3600.0  # seconds an unpacked upload is kept (a session's work)
DEMO_UPLOADS_MAX_BYTES = 500 * 2**20  # all unpacked uploads together, oldest removed first


def uploads_dir(env: dict[str, str] | None = None) -> Path:
    """Where uploaded image folders are extracted: <BEDASH_DATA_DIR>/uploads."""
    env = env if env is not None else dict(os.environ)
    return Path(env.get("BEDASH_DATA_DIR", "data")) / "uploads"


def profile_name(env: dict[str, str] | None = None) -> str:
    value = (env if env is not None else os.environ).get("BEDASH_PROFILE", "").strip().lower()
    return "demo" if value == "demo" else "default"


def current_limits(env: dict[str, str] | None = None) -> Limits:
    """The demo's caps (image folders only from uploads) or the defaults."""
    if profile_name(env) != "demo":
        return DEFAULT_LIMITS
    return dataclasses.replace(DEMO_LIMITS, dataset_roots=(str(uploads_dir(env)),))
