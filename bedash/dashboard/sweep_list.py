"""The Sweeps page's list of every sweep in the home (bedash.sweep.listing): status, progress,
grid, started and the paired verdicts on ensemble accuracy; a row picked opens that sweep."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bedash.dashboard.settings import runs_dir
from bedash.sweep.listing import list_sweeps


def sweep_list() -> None:
    """The table of sweeps; picking a row puts it in the address (?sweep=NAME)."""
    sweeps = list_sweeps(runs_dir())
    st.subheader("Every sweep")
    if not sweeps:
        st.caption(
            f"No sweeps in `{runs_dir()}` yet: start one below, or from a terminal "
            "with `bedash sweep` (it writes to the same folder)."
        )
        return
    frame = pd.DataFrame(
        {
            "Sweep": [s.name for s in sweeps],
            "Status": [s.status for s in sweeps],
            "Cells done": [f"{s.done} of {s.total}" for s in sweeps],
            "Grid": [s.grid for s in sweeps],
            "Started": pd.to_datetime([s.started for s in sweeps], errors="coerce", utc=True),
            "Verdict (ensemble accuracy)": [s.verdict for s in sweeps],
        }
    )
    event = st.dataframe(
        frame,
        key="sweep_list",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config={
            "Sweep": st.column_config.TextColumn(pinned=True),
            "Started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
    many = "s" * (len(sweeps) != 1)
    st.caption(f"{len(sweeps)} sweep{many} in `{runs_dir()}` · pick one to open it")
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(sweeps):
        st.query_params["sweep"] = sweeps[rows[0]].name
        st.rerun()
