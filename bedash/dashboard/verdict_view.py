"""The verdict at the top of a Results page: the one-seed answer with its caveat, or a sweep's
paired verdict, and a seed-sweep button that asks once more (the page queues the sweep)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from bedash.dashboard.form import people, plain
from bedash.dashboard.settings import runs_dir
from bedash.dashboard.speed import measured_speed
from bedash.dashboard.verdict import CAVEAT, one_seed_verdict, paired_verdict
from bedash.names import ConfigError, duration
from bedash.settings.config import RunConfig, label
from bedash.sweep.folder import PAIRED_FILE, read_sweep_json
from bedash.sweep.grid import SweepError, SweepSpec
from bedash.sweep.rows import config_label


def _sweep_cell(config_dict: dict) -> tuple[Path, dict] | None:
    """(paired.csv of the sweep this run is a cell of, the cell's sweep.json entry), or None."""
    meta = (config_dict.get("_meta") or {}).get("sweep") or {}
    name = meta.get("sweep") if isinstance(meta, dict) else None
    if not name or "/" in str(name) or ".." in str(name):
        return None
    folder = runs_dir() / str(name)
    if not (folder / PAIRED_FILE).is_file():
        return None
    try:
        cells = read_sweep_json(folder).get("cells", [])
    except SweepError:
        return None
    cell = next((c for c in cells if isinstance(c, dict) and c.get("id") == meta.get("cell")), None)
    return None if cell is None else (folder / PAIRED_FILE, cell)


def verdict_section(results_frame, config_dict: dict, run_id: str) -> SweepSpec | None:
    """Draw the verdict; the seed sweep of this config when its button was pressed, else None."""
    import csv

    found = _sweep_cell(config_dict)
    lines = []
    if found is not None:  # this cell's config, not the sweep's first
        paired, cell = found
        with paired.open(encoding="utf-8") as fh:
            lines = paired_verdict(list(csv.DictReader(fh)), config=cell.get("config"))
    if lines:
        where = config_label(cell.get("values") or {})
        text = f"**Paired over seeds** ({plain(where)}): " + plain("; ".join(lines))
        st.info(text, icon=":material/balance:")
    else:
        rows = [] if results_frame is None else results_frame.to_dict("records")
        st.info(plain(one_seed_verdict(rows)), icon=":material/balance:")
        st.caption(CAVEAT)
    return seed_sweep(config_dict, run_id)


def seed_sweep(config_dict: dict, run_id: str) -> SweepSpec | None:
    """The seed sweep of this config, once confirmed; offered only where it has something to
    compare (BatchEnsemble and a baseline)."""
    models = config_dict.get("models") or ()
    if "batchensemble" not in models or len(models) < 2:
        return None
    asked = f"verdict_asked_{run_id}"
    if st.button("Seed sweep of this config (seeds 0-4)", key=f"verdict_sweep_{run_id}"):
        st.session_state[asked] = True
    if not st.session_state.get(asked):
        return None
    clean = {k: v for k, v in config_dict.items() if not k.startswith("_")}
    try:
        spec = SweepSpec(RunConfig.from_dict(clean), {}, [0, 1, 2, 3, 4])
    except (SweepError, ConfigError) as e:
        st.error(f"**{label(e.field)}**: {plain(people(e.field, e.message))}")
        return None
    speed = measured_speed()
    seconds = sum(speed.seconds(c.config) for c in spec.cells())
    st.warning(
        f"Train this config 5 times, seeds 0 to 4: about {duration(seconds)}, an estimate at the "
        f"training speed of {plain(speed.source)}. Start?",
        icon=":material/schedule:",
    )
    go, back = st.columns(2)
    if back.button("Cancel", key=f"verdict_cancel_{run_id}"):
        st.session_state.pop(asked)
        st.rerun()
    if go.button("Start the seed sweep", type="primary", key=f"verdict_go_{run_id}"):
        st.session_state.pop(asked)
        return spec
    return None
