"""The Sweeps page's form: every field shows the value each cell will use (the settings'
declaration: label, help, default), the page says how many cells and about how long before
Start, and a grid beyond a few minutes asks once more. The grid input is parsed into a SweepSpec
as `bedash sweep` parses its flags; every problem is a SweepError that names the field."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from bedash.dashboard.form import people, plain
from bedash.dashboard.session import registry, sweep_jobs
from bedash.dashboard.settings import data_dir, limits, sweep_engine
from bedash.dashboard.speed import measured_speed
from bedash.estimate import FULL_SPLITS
from bedash.names import ConfigError, FieldError, duration, model_label
from bedash.settings.config import RunConfig, label, spec, sweep_values
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.sweep.grid import SWEEPABLE, SweepError, SweepSpec, check_size, parse_seeds, seed_count

MAX_PAGE_CELLS = 64  # the page's own bound (the demo's is lower: bedash.sweep.grid.DEMO_MAX_CELLS)
GRID_FIELDS = ("members", "hidden", "layers", "epochs", "lr", "train_size", "test_size")
EVALUATION = ("shift", "severities", "ood")  # the same for every cell (not sweepable)
CONFIRM_SECONDS = 180.0  # a grid estimated longer asks "Start anyway?" first
ALL = {"train_size": FULL_SPLITS[0], "test_size": FULL_SPLITS[1]}  # "all" of the built-in sets


def parse_grid(
    base: RunConfig,
    texts: dict[str, str],
    seeds: str,
    limits: Limits = DEFAULT_LIMITS,
    max_cells: int = MAX_PAGE_CELLS,
) -> SweepSpec:
    """texts: field -> '1,2,4' ('' keeps the base value). Its size is checked against the
    cap (the page's, the profile's) before its seeds are listed."""
    grid: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if not str(text or "").strip():
            continue
        try:
            converted = sweep_values(spec(name), str(text))
        except ConfigError as e:  # the page reports a sweep's input as the sweep's
            raise SweepError(e.field, e.message) from None
        if len(converted) == 1:
            values[name] = converted[0]
        else:
            grid[name] = converted
    check_size(math.prod(len(v) for v in grid.values()), seed_count(seeds), limits, max_cells)
    return SweepSpec(base.replace(**values), grid, parse_seeds(seeds))


def shown(name: str, value: Any) -> str:
    """A base value as the form shows it: 'all (50,000)' for a size that is every image."""
    if value is None:
        return f"all ({ALL[name]:,})" if name in ALL else "all"
    return spec(name).type.format(value)


def launch(sweep: SweepSpec, submit: Callable[..., Any]) -> str | None:
    """Queue the sweep with `submit` (sweepjobs.submit_sweep: the page passes it, so this module
    stays a floor above the training code); its name, or say which field stops it."""
    try:
        name = "sweep-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        job = submit(registry(), sweep, name, engine=sweep_engine(), max_cells=MAX_PAGE_CELLS)
    except FieldError as e:  # SweepError, ConfigError, DatasetError (an OOD set not on disk)
        error(e)
        return None
    sweep_jobs()[name] = job
    return name


def error(e: FieldError) -> None:
    """The field as the form names it: its label (the seeds' box: Seeds)."""
    named = label(e.field) if e.field in (*SWEEPABLE, *EVALUATION) else e.field
    named = "Seeds" if e.field == "seeds" else named
    st.error(f"**{named}**: {plain(people(e.field, e.message))}", icon=":material/error:")


def form(submit: Callable[..., Any]) -> None:
    """The new-sweep form; Start queues the grid on screen (with `submit`) and opens its page."""
    st.subheader("New sweep")
    dataset = st.radio("Dataset", ["synthetic", "cifar10"], horizontal=True, key="sw_dataset")
    defaults = RunConfig()
    cols = st.columns(4)
    texts = {}
    for i, name in enumerate(GRID_FIELDS):
        now = shown(name, getattr(defaults, name))
        texts[name] = cols[i % 4].text_input(
            label(name),
            key=f"sw_{name}",
            placeholder=now,
            help=f"{spec(name).help} One value, or a comma list. Empty: {now}.",
        )
    seeds = st.text_input("Seeds", "0-1", key="sw_seeds", help="e.g. 0-4 or 0,1,5")
    with st.expander("Uncertainty under shift (every cell)"):
        cols = st.columns(len(EVALUATION))
        evaluation = {
            name: cols[i].text_input(
                label(name), str(getattr(defaults, name)), key=f"sw_{name}", help=spec(name).help
            )
            for i, name in enumerate(EVALUATION)
        }
    kinds = ", ".join(model_label(k) for k in defaults.models)
    st.caption(f"Every cell trains {kinds}, on the CPU.")
    try:
        base = RunConfig.of(dataset=dataset, device="cpu", data_dir=str(data_dir()), **evaluation)
        sweep = parse_grid(base, texts, seeds, limits())
    except FieldError as e:
        sweep, problem = None, e
    seconds = plan(sweep) if sweep is not None else 0.0
    pressed = st.button("Start sweep", type="primary", key="sw_start")
    if sweep is None:
        if pressed:
            error(problem)
        return
    signature = repr(sweep.to_dict())
    if pressed and seconds > CONFIRM_SECONDS:
        st.session_state["sw_asked"] = signature  # asked once more, below
        pressed = False
    if st.session_state.get("sw_asked") == signature:
        st.warning(
            f"This grid takes about {duration(seconds)} (an estimate). Start it anyway?",
            icon=":material/schedule:",
        )
        pressed = st.button("Start anyway", key="sw_confirm")
    if pressed and (name := launch(sweep, submit)):
        st.session_state.pop("sw_asked", None)
        st.query_params["sweep"] = name
        st.rerun()


def plan(sweep: SweepSpec) -> float:
    """The grid's cells and estimated duration, stated under the form; its seconds."""
    speed = measured_speed()
    cells = sweep.cells()
    seconds = sum(speed.seconds(c.config) for c in cells)
    st.markdown(
        f"**{len(cells)} cells** ({count(sweep.n_configs, 'config')} × "
        f"{count(len(sweep.seeds), 'seed')}), "
        f"**about {duration(seconds)}** one after another."
    )
    st.caption(
        f"An estimate at the training speed of {plain(speed.source)}, scaled by model size; "
        "evaluation counted at a third of a training pass."
    )
    return seconds


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
