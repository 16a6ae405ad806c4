"""The Uncertainty section of a run's Results page. Every file is read against its schema
(bedash.store.runfiles): a missing one shows nothing or a hint, a damaged one a short message
naming it, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from bedash.dashboard import rundata
from bedash.dashboard import uncertainty_tables as ut
from bedash.dashboard.figures.style import plot_config
from bedash.dashboard.figures.uncertainty import coverage_figure, histogram_figure, shift_figure
from bedash.dashboard.form import plain
from bedash.dashboard.tables import NOT_MEASURED
from bedash.names import model_label
from bedash.store.readers import CSV_LIMIT, FileProblem, Schema, read_bytes, read_table, safe_text
from bedash.store.runfiles import OOD, SELECTIVE, SHIFT, UNCERTAINTY, UNCERTAINTY_RE

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class UncertaintyFiles:
    """A run's uncertainty tables (empty when absent or damaged), each file's bytes for its
    download, and one line per damaged file."""

    shift: pd.DataFrame
    ood: pd.DataFrame
    selective: pd.DataFrame
    hist: dict[str, pd.DataFrame] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.shift.empty and self.ood.empty and self.selective.empty and not self.hist


def read_uncertainty(path: Path) -> UncertaintyFiles:
    """The run folder's uncertainty files, validated; never raises for what is in the folder."""
    import pandas as pd

    raw: dict[str, bytes] = {}
    problems: list[str] = []

    def load(name: str, schema: Schema) -> pd.DataFrame:
        file = path / name
        try:
            rows = read_table(file, schema)
            raw[name] = read_bytes(file, CSV_LIMIT)
        except FileNotFoundError:
            return pd.DataFrame()
        except FileProblem as e:
            problems.append(str(e))
            return pd.DataFrame()
        except OSError as e:
            problems.append(f"cannot read {safe_text(name, 100)} ({safe_text(e, 100)})")
            return pd.DataFrame()
        # float columns keep NaN for an empty cell: missing stays missing, never zero
        return pd.DataFrame(rows, columns=list(schema))

    out = UncertaintyFiles(
        load("shift.csv", SHIFT), load("ood.csv", OOD), load("selective.csv", SELECTIVE)
    )
    try:
        names = sorted(p.name for p in path.iterdir())[:10_000]
    except OSError:
        names = []
    for name in names:
        if not (m := UNCERTAINTY_RE.match(name)):
            continue
        frame = load(name, UNCERTAINTY)
        if frame.empty:
            continue
        if set(frame["model"]) != {m.group(1)}:
            problems.append(f"{name} holds rows of another model")
            raw.pop(name, None)
            continue
        out.hist[m.group(1)] = frame
    out.raw, out.problems = raw, problems
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def _read_cached(path: str, signature: tuple) -> UncertaintyFiles:
    return read_uncertainty(Path(path))


def read_cached(path: Path) -> UncertaintyFiles:
    """read_uncertainty once per state of the folder (as common.load_run)."""
    return _read_cached(str(path), rundata.signature(path))


def csv_button(name: str, files: UncertaintyFiles) -> None:
    # as common.csv_button (importing common here would add an import floor)
    data, key, icon = files.raw.get(name, b""), f"dl_unc_{name}", ":material/download:"
    st.download_button(
        name, data, name, "text/csv", key=key, on_click="ignore", icon=icon, disabled=not data
    )


def chart(fig, key: str, name: str) -> None:
    """As common.chart (importing common here would add an import floor)."""
    fmt = st.session_state.get("figure_format", "png")
    st.plotly_chart(fig, key=key, config=plot_config(name, fmt))


def four_places(table: pd.DataFrame, *text: str) -> dict:
    """One precision per column: every number column with four decimals (0.7600, 0.6373)."""
    return {c: st.column_config.NumberColumn(c, format="%.4f") for c in table if c not in text}


def _shift_part(files: UncertaintyFiles) -> None:
    st.markdown("**Accuracy and calibration under dataset shift**")
    if files.shift.empty:
        st.caption(f"Shifted test sets: {NOT_MEASURED} (train with --shift).")
        return
    st.caption(
        "The test set corrupted as in CIFAR-10-C, severity 1 (mild) to 5 (strong); 0 is the "
        "clean test set. An ensemble whose uncertainty can be trusted loses accuracy without "
        "its ECE growing as fast (Ovadia et al. 2019)."
    )
    corruptions = ut.corruptions_in(files.shift)
    has_mean = (files.shift["corruption"] == ut.MEAN).any()
    options = ([ut.MEAN] if has_mean else []) + corruptions
    if not options:
        options = [ut.MEAN]  # only the clean rows: the figure shows severity 0
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    picked = left.selectbox(
        "Corruption",
        options,
        key="unc_corruption",
        format_func=ut.corruption_label,
    )
    if picked in (ut.MEAN, "mean_weather"):
        st.caption(ut.MEAN_NOTE)
    has_ts = any(c in files.shift and files.shift[c].notna().any() for c in ("acc_ts", "ece_ts"))
    scaled = right.checkbox(
        "Temperature-scaled (dashed)",
        value=has_ts,
        key="unc_scaled",
        disabled=not has_ts,
        help="After one temperature per model fitted on a held-out validation split; shown "
        "beside the raw metrics, never instead. Needs --temperature-scaling.",
    )
    chart(shift_figure(files.shift, picked, scaled), "unc_shift_chart", "shift")
    with st.expander("Table"):
        table = ut.shift_table(files.shift, picked)
        st.dataframe(
            table,
            hide_index=True,
            key="unc_shift_table",
            placeholder=NOT_MEASURED,
            column_config=four_places(table, "Model", "Corruption", "Severity"),
        )
    csv_button("shift.csv", files)


def _ood_part(files: UncertaintyFiles) -> None:
    st.markdown("**Out-of-distribution detection**")
    if files.ood.empty:
        st.caption(f"OOD sets: {NOT_MEASURED} (train with --ood).")
        return
    st.caption(
        "Telling the clean test images from images of another kind by one score, predictive "
        "entropy or mutual information (higher: more likely OOD). AUROC and AUPR: 1 is "
        "perfect, 0.5 chance; FPR at 95% TPR: lower is better."
    )
    table = ut.ood_table(files.ood)
    for note in ut.ood_left_out(files.ood):
        st.caption(note)
    columns = four_places(table, "Model", "OOD set", "Score")
    st.dataframe(
        table, hide_index=True, key="unc_ood_table", placeholder=NOT_MEASURED, column_config=columns
    )
    csv_button("ood.csv", files)


def _hist_part(files: UncertaintyFiles) -> None:
    st.markdown("**Uncertainty in distribution and out of it**")
    if not files.hist:
        st.caption(f"Histograms: {NOT_MEASURED}.")
        return
    st.caption(
        "Predictive entropy (total uncertainty) and mutual information (the members' "
        "disagreement: epistemic) per image, as a fraction of each set. Good uncertainty puts "
        "the OOD lines to the right of the clean test bars."
    )
    kinds = ut.models_in(*files.hist.values())
    kind = st.selectbox("Model", kinds, key="unc_hist_model", format_func=model_label)
    chart(histogram_figure(files.hist[kind], kind), "unc_hist_chart", f"uncertainty_{kind}")
    csv_button(f"uncertainty_{kind}.csv", files)


def _coverage_part(files: UncertaintyFiles) -> None:
    st.markdown("**Selective prediction**")
    if files.selective.empty:
        st.caption(f"Accuracy against coverage: {NOT_MEASURED}.")
        return
    st.caption(
        "Answer only the most confident share of the clean test images: accuracy on those "
        "against the share answered. AURC, the area under the risk-coverage curve: lower is "
        "better."
    )
    chart(coverage_figure(files.selective, files.shift), "unc_coverage_chart", "selective")
    csv_button("selective.csv", files)


def uncertainty_section(path: Path, ended_early: bool = False) -> None:
    """The Uncertainty section of the run folder path (ended_early: a run that asked for an
    evaluation and stopped or failed before it)."""
    files = read_cached(Path(path))
    for problem in files.problems:
        st.warning(plain(problem), icon=":material/warning:")
    if files.empty:
        if ended_early and not files.problems:
            why = f"Uncertainty under shift and OOD detection: {NOT_MEASURED}"
            st.info(f"{why} (the run ended before its evaluation).", icon=":material/info:")
        elif not files.problems:
            st.info(
                "No uncertainty evaluation in this run: train with --shift, --ood or "
                "--temperature-scaling (Evaluation, under Advanced on the Experiment page).",
                icon=":material/info:",
            )
        return
    _shift_part(files)
    _ood_part(files)
    _hist_part(files)
    _coverage_part(files)
