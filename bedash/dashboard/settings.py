"""The dashboard's settings: BEDASH_* environment variables, else Streamlit secrets of the same
name (a hosted app is configured in its secrets; the library never reads them)."""

from __future__ import annotations

import os
from pathlib import Path

from bedash.settings.limits import Limits
from bedash.settings.profile import current_limits

SETTINGS = ("BEDASH_PROFILE", "BEDASH_RUNS_DIR", "BEDASH_DATA_DIR", "BEDASH_MAX_JOBS")


def setting(name: str, default: str = "") -> str:
    """An environment variable, else the Streamlit secret of that name, else default."""
    value = os.environ.get(name)
    if value is None:
        import streamlit as st

        try:
            value = st.secrets[name]
        except (KeyError, FileNotFoundError):  # no such secret, or no secrets file at all
            return default
    return str(value)


def settings() -> dict[str, str]:
    """The BEDASH_* settings as an environment for bedash.settings.profile."""
    return {name: setting(name) for name in SETTINGS if setting(name)}


def runs_dir() -> Path:
    """Where runs are written and read (BEDASH_RUNS_DIR, default ./runs; ~ expanded)."""
    return Path(setting("BEDASH_RUNS_DIR", "runs")).expanduser()


def data_dir() -> Path:
    """Where CIFAR-10 is downloaded and decoded tensors are cached (BEDASH_DATA_DIR)."""
    return Path(setting("BEDASH_DATA_DIR", "data")).expanduser()


def limits() -> Limits:
    """The profile's caps: BEDASH_PROFILE=demo as a variable or a secret."""
    return current_limits(settings())


def max_jobs() -> int:
    """Jobs that may train at once (BEDASH_MAX_JOBS, default 1: two jobs on the same cores
    would each measure the other's load)."""
    try:
        wanted = max(1, int(setting("BEDASH_MAX_JOBS", "1")))
    except ValueError:
        wanted = 1
    cap = limits().max_running
    return min(wanted, cap) if cap else wanted


def sweep_engine() -> str:
    """BEDASH_SWEEP_ENGINE: "ray" (the CLI in a child process; default) or "local" (cells in
    this process); the demo always runs them here, within its memory."""
    if limits().name == "demo":
        return "local"
    wanted = setting("BEDASH_SWEEP_ENGINE", "ray").strip().lower()
    return wanted if wanted in ("ray", "local") else "ray"
