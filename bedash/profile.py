"""Profiles: the default (a user's own machine) and `demo` (a public hosted demo).

BEDASH_PROFILE=demo (environment variable, or a Streamlit secret passed in by the app) caps
what one job may ask for, wherever a RunConfig is validated.
"""

from __future__ import annotations

import os

from .config import DEFAULT_LIMITS, Limits

DEMO_LIMITS = Limits(
    max_members=8,  # the demo's whole point fits in 8 members
    max_hidden=512,
    max_epochs=10,
    max_train_size=10_000,  # a job must finish in minutes on a shared 0.1-2 CPU host
    max_wall_seconds=600.0,
    name="demo",
)


def profile_name(env: dict[str, str] | None = None) -> str:
    value = (env if env is not None else os.environ).get("BEDASH_PROFILE", "").strip().lower()
    return "demo" if value == "demo" else "default"


def current_limits(env: dict[str, str] | None = None) -> Limits:
    return DEMO_LIMITS if profile_name(env) == "demo" else DEFAULT_LIMITS
