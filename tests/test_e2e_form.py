"""The forms in a real browser at 1280 x 800 and 390 x 844: on a first visit of the Experiment
page, Start is in the first viewport (no scrolling), with the estimated duration beside it;
the Sweeps form states its cells and an estimate before Start. Screenshots of both forms'
first screens in docs/screenshots/form-<page>-<width>.png. Runs with `-m e2e`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e import ARGS, CHROMIUM, SHOTS, Server, need_browser, start_server, stop_server
from tests.test_e2e_reading import WIDTHS, check, open_page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_browser()
    tmp = Path(tempfile.mkdtemp(prefix="bedash-e2e-form-"))
    s = start_server(tmp)
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


def in_first_viewport(page, locator, width: int) -> dict:
    """The element's box, asserted inside the window as first shown (nothing scrolled)."""
    assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= WIDTHS[width], box
    return box


@pytest.mark.parametrize("width", list(WIDTHS))
def test_start_is_in_the_first_viewport_with_its_estimate(browser, warm, width: int) -> None:
    page, outside, _ = open_page(browser, warm, "/", width)
    start = page.get_by_role("button", name="Start", exact=True)
    start.wait_for()
    page.get_by_text("Takes about").first.wait_for()
    in_first_viewport(page, start, width)
    assert page.get_by_text("Advanced: the BatchEnsemble recipe").first.is_visible()
    assert not page.get_by_label("Notes", exact=True).is_visible()  # Advanced: collapsed
    assert "well under a minute" not in page.inner_text("body")
    check(page, outside, width)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"form-experiment-{width}.png"))
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_sweep_form_states_cells_and_an_estimate(browser, warm, width: int) -> None:
    page, outside, _ = open_page(browser, warm, "/sweeps", width)
    page.get_by_text("2 cells").first.wait_for()
    assert page.get_by_label("Epochs", exact=True).get_attribute("placeholder") == "20"
    assert "An estimate" in page.inner_text("body")
    check(page, outside, width)
    page.get_by_role("button", name="Start sweep").scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"form-sweeps-{width}.png"))
    page.context.close()
