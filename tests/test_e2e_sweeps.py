"""The Sweeps page in a real browser at 1280 and 390 px: a finished sweep's bands, scatter
plots and paired table with no sideways scrolling and nothing fetched from another host
(screenshots in docs/screenshots/sweeps-<width>.png), its uncertainty section for the config
picked in the selector (sweeps-uncertainty-<width>.png), and a sweep launched from the form
that fills its grid through the server's job registry. Runs with `-m e2e`."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e import ARGS, CHROMIUM, SHOTS, Server, need_browser, start_server, stop_server
from tests.test_e2e_reading import WIDTHS, check, open_page, settle_charts, shoot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

NAME = "sweep-20261202-100000"


def make_sweep(runs_dir: Path) -> None:
    """A finished 2 x 3 sweep (members 2 and 4, seeds 0-2) of tiny cells, run in-process,
    each evaluated under contrast at severities 1-5 and on uniform noise as OOD."""
    from bedash.experiment import run_experiment
    from bedash.settings.config import RunConfig
    from bedash.sweep.engines import LocalEngine
    from bedash.sweep.grid import SweepSpec
    from bedash.sweep.run import run_sweep

    base = RunConfig(dataset="synthetic", train_size=400, test_size=200, epochs=2, hidden=16,
                     batch_size=64, device="cpu", shift="contrast", ood="uniform")  # fmt: skip
    spec = SweepSpec(base, {"members": [2, 4]}, [0, 1, 2])
    run_sweep(spec, runs_dir / NAME, LocalEngine(run_experiment))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_browser()
    tmp = Path(tempfile.mkdtemp(prefix="bedash-e2e-sweeps-"))
    make_sweep(tmp / "runs")
    s = start_server(tmp, BEDASH_SWEEP_ENGINE="local")
    yield s
    stop_server(s)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def warm(browser, server: Server) -> Server:
    """app.py's navigation runs once before a deep link (see tests/test_e2e_reading.py)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server.url)
    page.get_by_role("button", name="Start").wait_for(timeout=60_000)
    page.close()
    return server


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_finished_sweep_reads_at_both_widths(browser, warm: Server, width: int) -> None:
    page, outside, _ = open_page(browser, warm, f"/sweeps?sweep={NAME}", width)
    page.get_by_text("Paired over seeds").first.wait_for()
    settle_charts(page, 4)  # bands per metric against members, accuracy vs params and time
    assert page.get_by_text("Sweep not found").count() == 0
    check(page, outside, width)
    shoot(page, "sweeps", width)
    # every cell opens its run
    links = page.locator('a[href*="results?run="]')
    assert links.count() == 6
    page.context.close()


def shoot_section(page, heading: str, next_heading: str, name: str, width: int) -> None:
    """The part of the page from `heading` to `next_heading`, scrolled to the top of a window
    as tall as that part (at least the test's window)."""
    top = page.get_by_role("heading", name=heading, exact=True)
    end = page.get_by_role("heading", name=next_heading, exact=True)
    top.evaluate("e => e.scrollIntoView({block: 'start'})")
    span = end.bounding_box()["y"] - top.bounding_box()["y"]
    page.set_viewport_size({"width": width, "height": int(max(WIDTHS[width], min(span, 3000)))})
    page.wait_for_timeout(1200)  # charts resize
    top.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)  # no chart hovered: its toolbar would cover a title or a legend
    page.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_uncertainty_section_follows_the_config_selector(
    browser, warm: Server, width: int
) -> None:
    page, outside, _ = open_page(browser, warm, f"/sweeps?sweep={NAME}", width)
    page.get_by_role("heading", name="Uncertainty under shift").wait_for()
    settle_charts(page, 5)  # the four above and accuracy / ECE against severity
    section = page.get_by_text("every config is in the files")
    assert "members=2" in section.inner_text()
    page.get_by_role("combobox", name="Config").click()  # its options open in a list
    page.get_by_role("option", name="members=4").click()
    page.get_by_text("Config members=4; every config").wait_for()
    settle_charts(page, 5)
    assert page.get_by_text("Paired over seeds (members=4)").count() == 1  # the verdict line
    check(page, outside, width)
    shoot_section(page, "Uncertainty under shift", "Cells", "sweeps-uncertainty", width)
    page.context.close()


def test_a_sweep_launched_from_the_page_fills_its_grid(browser, warm: Server) -> None:
    page, outside, _ = open_page(browser, warm, "/sweeps", 1280)
    for label, value in (("Members (E)", "2,3"), ("Training images", "300"),
                         ("Test images", "100"), ("Epochs", "1"), ("Hidden width", "16"),
                         ("Seeds", "0")):  # fmt: skip
        page.get_by_label(label, exact=True).fill(value)
        page.keyboard.press("Tab")  # commit the text input before the click
    page.get_by_role("button", name="Start sweep").click()
    deadline = time.monotonic() + 300
    folder = None
    while time.monotonic() < deadline:
        found = [p for p in warm.runs.glob("sweep-*") if p.name != NAME]
        folder = found[0] if found else None
        if folder and (folder / "sweep.json").is_file():
            state = json.loads((folder / "sweep.json").read_text())
            if state.get("status") == "finished":
                break
        time.sleep(1)
    assert folder is not None, "no sweep folder appeared"
    state = json.loads((folder / "sweep.json").read_text())
    assert state["status"] == "finished", state
    assert [c["status"] for c in state["cells"]] == ["finished", "finished"]
    page.wait_for_url(f"**/sweeps?sweep={folder.name}", timeout=30_000)  # the page follows it
    page.get_by_text("Paired over seeds").first.wait_for(timeout=60_000)
    assert not outside
    page.context.close()
