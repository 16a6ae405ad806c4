"""The speed every "about how long" before Start assumes: the one the newest finished run in the
runs folder measured (bedash.estimate.speed_of), else the one assumed."""

from __future__ import annotations

import streamlit as st

from bedash.dashboard.settings import runs_dir
from bedash.estimate import ASSUMED, Speed, speed_of
from bedash.names import FieldError
from bedash.store.runs import list_runs


@st.cache_data(ttl=60, show_spinner=False)
def _speed(runs: str) -> Speed:
    try:
        listing = list_runs(runs)  # newest first
    except (OSError, FieldError):
        return ASSUMED
    done = next((r for r in listing if r.status == "finished" and r.results), None)
    if done is None:
        return ASSUMED
    return speed_of(done.config, done.results, f"run {done.run_id} on this machine")


def measured_speed() -> Speed:
    """The training speed the newest finished run in the runs folder measured (read at most
    once a minute), else the one assumed: what every "about how long" before Start uses."""
    return _speed(str(runs_dir()))
