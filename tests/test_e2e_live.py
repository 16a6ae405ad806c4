"""The Sweeps page in a real browser watching a sweep that runs in another process (as the CLI's
does): its running cell's model, epoch and loss move on the page while it trains, and once the
sweep is killed half way the page says what was stopped (screenshots sweeps-running-<width>.png
and sweeps-stopped-<width>.png in docs/screenshots/). Runs with `-m e2e`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_e2e import ARGS, CHROMIUM, SHOTS, need_browser, start_server, stop_server
from tests.test_sweep_live import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "sweep-20261208-live"
SLOW_SWEEP = """
import json, sys, time
from bedash.experiment import run_experiment
from bedash.settings.config import RunConfig
from bedash.sweep.cell import CellProgress
from bedash.sweep.engines import LocalEngine
from bedash.sweep.grid import SweepSpec
from bedash.sweep.run import run_sweep
CellProgress.on_epoch = lambda self, records: time.sleep(4)  # an epoch lasts a while
base = RunConfig.from_dict(json.loads(sys.argv[2]))
run_sweep(SweepSpec(base, {}, [0, 1]), sys.argv[1], LocalEngine(run_experiment))
"""


def settled(page) -> None:
    """The page drawn to its end (the form's Start at its foot), for a screenshot of it all."""
    page.get_by_role("button", name="Start sweep").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the data grids paint after their frame


def test_the_sweeps_page_shows_a_running_cells_progress_move(tmp_path: Path) -> None:
    need_browser()
    from playwright.sync_api import sync_playwright

    from bedash.settings.config import RunConfig

    base = RunConfig(dataset="synthetic", train_size=128, test_size=32, epochs=4, hidden=8,
                     members=2, device="cpu", models=("batchensemble", "single"))  # fmt: skip
    out = tmp_path / "runs" / NAME
    server = start_server(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", SLOW_SWEEP, str(out), json.dumps(base.to_dict())]
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / "sweep.json").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep never began"
            time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url)  # app.py's navigation once before a deep link
            page.get_by_role("button", name="Start").wait_for(timeout=60_000)
            page.goto(f"{server.url}/sweeps?sweep={NAME}")
            first = re.compile(r"c00_s0: batchensemble epoch 1/4 loss \d")
            page.get_by_text(first).wait_for(timeout=120_000)
            # the same page, not reloaded, a few seconds later: the next epoch, a new loss
            page.get_by_text(re.compile(r"c00_s0: batchensemble epoch 2/4 loss \d")).wait_for(
                timeout=60_000
            )
            assert page.get_by_text(first).count() == 0
            assert page.get_by_text("Sweep not found").count() == 0
            assert proc.poll() is None  # all of it while the sweep ran
            SHOTS.mkdir(parents=True, exist_ok=True)
            settled(page)
            page.screenshot(path=str(SHOTS / "sweeps-running-1280.png"))
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(f"{server.url}/sweeps?sweep={NAME}")
            phone.get_by_text(re.compile(r"c00_s0: batchensemble epoch \d/4 loss \d")).wait_for(
                timeout=60_000
            )
            settled(phone)
            phone.screenshot(path=str(SHOTS / "sweeps-running-390.png"))
            # killed half way (kill -9: nothing said): the page names what was stopped
            proc.kill()
            proc.wait(30)
            for tab, width in ((page, 1280), (phone, 390)):
                tab.goto(f"{server.url}/sweeps?sweep={NAME}")
                tab.get_by_text(re.compile(r"^Stopped: ")).wait_for(timeout=60_000)
                assert tab.get_by_text(re.compile(r"epoch \d/4 loss")).count() == 0
                settled(tab)
                tab.screenshot(path=str(SHOTS / f"sweeps-stopped-{width}.png"), full_page=True)
            browser.close()
    finally:
        proc.kill()
        proc.wait(30)
        stop_server(server)
