"""The dashboard's settings: BEDASH_* environment variables, else Streamlit secrets of the same
name (a hosted app is configured in its secrets; the library never reads them). Each is declared
and checked in bedash.settings.profile (ENV_SETTINGS); app.py checks them all at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from bedash.settings.limits import Limits
from bedash.settings.profile import ENV_SETTINGS, EnvError, check_env, current_limits, env_setting


def secrets() -> dict[str, str]:
    """The Streamlit secrets' top-level names and values ({} without a secrets file)."""
    import streamlit as st

    try:
        return {name: str(value) for name, value in st.secrets.items()}
    except FileNotFoundError:  # no secrets file at all
        return {}


def given() -> dict[str, str]:
    """The Streamlit secrets with the environment over them: a variable wins over a secret."""
    return {**secrets(), **os.environ}


def settings() -> dict[str, str]:
    """The BEDASH_* settings that are set, as an environment for bedash.settings.profile."""
    env = given()
    return {name: env[name] for name in ENV_SETTINGS if env.get(name)}


def settings_problem() -> str:
    """ "" when every BEDASH_* setting can be used, else the first problem, naming the setting
    (a typo in BEDASH_PROFILE must not quietly drop the demo's caps)."""
    try:
        check_env(given())
    except EnvError as e:
        return f"**{e.field}**: {e.message}"
    return ""


def runs_dir() -> Path:
    """Where runs are written and read (BEDASH_RUNS_DIR, default ./runs; ~ expanded)."""
    return Path(env_setting("BEDASH_RUNS_DIR", settings())).expanduser()


def data_dir() -> Path:
    """Where CIFAR-10 is downloaded and decoded tensors are cached (BEDASH_DATA_DIR)."""
    return Path(env_setting("BEDASH_DATA_DIR", settings())).expanduser()


def limits() -> Limits:
    """The profile's caps: BEDASH_PROFILE=demo as a variable or a secret."""
    return current_limits(settings())


def max_jobs() -> int:
    """Jobs that may train at once (BEDASH_MAX_JOBS, default 1: two jobs on the same cores
    would each measure the other's load)."""
    wanted = int(env_setting("BEDASH_MAX_JOBS", settings()))
    cap = limits().max_running
    return min(wanted, cap) if cap else wanted


def sweep_engine() -> str:
    """BEDASH_SWEEP_ENGINE: "ray" (the CLI in a child process; default) or "local" (cells in
    this process); the demo always runs them here, within its memory."""
    if limits().name == "demo":
        return "local"
    return env_setting("BEDASH_SWEEP_ENGINE", settings())
