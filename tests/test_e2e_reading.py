"""The reading side in a real browser (Debian's Chromium through Playwright): each page at
1280x800 and at a phone's 390 px, screenshots in docs/screenshots/<page>-<width>.png, no
sideways scrolling of the page, nothing fetched from another host (favicon included), and the
time to each page's first render (printed, not asserted). Runs with `-m e2e`."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e import ARGS, CHROMIUM, SHOTS, Server, need_browser, start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WIDTHS = {1280: 800, 390: 844}
TIMES: dict[str, float] = {}  # page-width -> seconds to its first render
RUNS = [  # name, members, hidden, cancelled after the first model
    ("20261202-090000-a1b2c3", 3, 32, False),
    ("20261202-091000-d4e5f6", 4, 32, False),
    ("20261202-092000-0a0b0c", 4, 48, True),
]


def make_runs(runs_dir: Path) -> None:
    """Three small runs written as the CLI writes them: E=3 and E=5 alike otherwise, and a
    wider one stopped after the BatchEnsemble (the others not measured); one is tagged."""
    import bedash.store.annotations as notes
    from bedash.experiment import run_experiment
    from bedash.method.train import Callback
    from bedash.settings.config import RunConfig

    class StopAfterFirst(Callback):
        def __init__(self, event: threading.Event) -> None:
            self.event = event

        def on_model_end(self, model: str, result: dict) -> None:
            self.event.set()

    for name, members, hidden, cancel in RUNS:
        cfg = RunConfig(
            dataset="synthetic", train_size=1000, test_size=500, epochs=3, hidden=hidden,
            members=members, batch_size=64, device="cpu",
        )  # fmt: skip
        event = threading.Event()
        run_experiment(
            cfg, runs_dir / name, cancel=event, callback=StopAfterFirst(event) if cancel else None
        )
    notes.write(runs_dir / RUNS[0][0], notes.Annotations(("baseline", "E=3"), "the reference"))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    need_browser()
    tmp = Path(tempfile.mkdtemp(prefix="bedash-e2e-"))
    cached = os.environ.get("BEDASH_E2E_RUNS")  # a folder of make_runs' runs, to rerun faster
    if cached and Path(cached).is_dir():
        shutil.copytree(cached, tmp / "runs")
    else:
        make_runs(tmp / "runs")
        if cached:
            shutil.copytree(tmp / "runs", cached)
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
    """One visit to the app's root first: until app.py has run st.navigation once in this
    server process, streamlit treats pages/ as a v1 multipage folder and a deep link
    (/results?run=...) runs the page alone, without app.py's navigation and page config."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    t0 = time.perf_counter()
    page.goto(server.url)
    page.get_by_role("button", name="Start").wait_for(timeout=60_000)
    TIMES["experiment-cold"] = time.perf_counter() - t0
    page.close()
    return server


def open_page(browser, server: Server, path: str, width: int):
    """A fresh tab at `width`; records every request that leaves the server."""
    context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:", "about:"))
            else None
        ),
    )
    t0 = time.perf_counter()
    page.goto(server.url + path)
    page.locator("h1").first.wait_for()
    return page, outside, time.perf_counter() - t0


def settle_charts(page, at_least: int) -> float:
    """Wait until at_least plotly charts have drawn; returns when that happened (perf)."""
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
        arg=at_least,
        timeout=60_000,
    )
    return time.perf_counter()


def no_sideways_scroll(page) -> dict:
    return page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return {doc: document.documentElement.scrollWidth - window.innerWidth,
                           main: m ? m.scrollWidth - m.clientWidth : 0} }"""
    )


def shoot(page, name: str, width: int) -> None:
    """The whole page at this width: grow the window to the content (the main area scrolls
    inside the window)."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": width, "height": max(WIDTHS[width], min(height, 9000))})
    page.wait_for_timeout(1200)  # charts resize
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})


def check(page, outside: list[str], width: int) -> None:
    over = no_sideways_scroll(page)
    assert over["doc"] <= 0 and over["main"] <= 0, f"sideways scrolling at {width} px: {over}"
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel*=icon]')].map(l => l.href)")
    assert icon and all(not h.startswith("http") or h.startswith(page.url.split("/")[0] + "//"
                                                                  + page.url.split("/")[2])
                        for h in icon), icon  # fmt: skip
    assert not outside, f"fetched from the network: {outside[:5]}"
    # app.py's navigation (3 pages), not streamlit's listing of every file in pages/
    assert page.locator('a[href$="/common"]').count() == 0


@pytest.mark.parametrize("width", list(WIDTHS))
def test_results_page(browser, warm: Server, width: int) -> None:
    server = warm
    page, outside, first = open_page(browser, server, f"/results?run={RUNS[0][0]}", width)
    t0 = time.perf_counter() - first
    done = settle_charts(page, 2)  # the first tab: accuracy and parameters
    TIMES[f"results-{width}-title"] = first
    TIMES[f"results-{width}-charts"] = done - t0
    page.get_by_text("Tags and notes").first.wait_for()
    check(page, outside, width)
    shoot(page, "results", width)
    # every other tab draws its own charts, none wider than the page
    for tab, charts in TABS.items():
        open_tab(page, tab, charts)
        check(page, outside, width)
        if tab == "Agreement":
            shoot(page, "results-agreement", width)
    # the cancelled run: "not measured", never a 0.000 bar, no promise of results to come
    page.goto(server.url + f"/results?run={RUNS[2][0]}")
    page.get_by_text("Stopped before the end").first.wait_for()
    settle_charts(page, 2)
    assert page.get_by_text("not measured").count() >= 1
    assert page.get_by_text("has finished yet").count() == 0
    check(page, outside, width)
    shoot(page, "results-cancelled", width)
    page.context.close()


TABS = {"Time": 1, "Members": 1, "Agreement": 1, "Calibration": 1, "Training": 2}  # charts


def open_tab(page, name: str, charts: int) -> None:
    """Click a tab of the Results page; wait until its rerun has drawn its charts (only its
    own) in its panel. Counting charts on the whole page is not enough: right after the click
    the previous tab's charts are still there and the rerun has not started, so two tabs
    with one chart each would look done at once, and the next click would land mid-rerun."""
    page.get_by_role("tab", name=name, exact=True).click()
    try:
        page.wait_for_function(
            """([name, n]) => {
                 const tab = [...document.querySelectorAll('[role=tab]')]
                   .find(t => t.innerText.trim() === name);
                 const panel = tab && tab.getAttribute('aria-selected') === 'true'
                   && document.getElementById(tab.getAttribute('aria-controls'));
                 if (!panel) return false;
                 const own = panel.querySelectorAll('[data-testid="stPlotlyChart"]');
                 const all = document.querySelectorAll('[data-testid="stPlotlyChart"]');
                 return own.length === n && all.length === n
                        && [...own].every(c => c.querySelector('.main-svg'))
                        && !document.querySelector('[data-test-script-state="running"]') }""",
            arg=[name, charts],
            timeout=60_000,
        )
    except Exception as e:
        state = page.evaluate(
            """() => ({selected: [...document.querySelectorAll('[role=tab]')]
                          .filter(t => t.getAttribute('aria-selected') === 'true')
                          .map(t => t.innerText),
                       charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
                       running: !!document.querySelector('[data-test-script-state="running"]')})"""
        )
        raise AssertionError(f"tab {name!r}: {charts} charts never drew; page: {state}") from e


@pytest.mark.parametrize("width", list(WIDTHS))
def test_runs_page_with_a_comparison(browser, warm: Server, width: int) -> None:
    server = warm
    page, outside, first = open_page(browser, server, "/runs", width)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    TIMES[f"runs-{width}"] = first
    check(page, outside, width)
    # select every row: the grid's header checkbox (a canvas: click where it is drawn)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 18)
    page.get_by_text("Comparing 3 runs").first.wait_for(timeout=30_000)
    settle_charts(page, 3)
    check(page, outside, width)
    shoot(page, "runs", width)
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_experiment_page_live(browser, warm: Server, width: int) -> None:
    server = warm
    page, outside, first = open_page(browser, server, "/", width)
    start = page.get_by_role("button", name="Start")
    start.wait_for()
    TIMES[f"experiment-{width}"] = first
    check(page, outside, width)
    page.get_by_text("Looking for GPUs").first.wait_for(state="detached")
    start.click()  # scrolled to first: below the fold on a phone
    # right after Start the live view is in sight, at both widths
    bar = page.locator('[data-testid="stProgress"]').first
    bar.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # the one-time scroll
    assert in_viewport(page, bar), f"progress bar out of sight at {width} px: {bar.bounding_box()}"
    page.get_by_text("for the whole job").first.wait_for(timeout=60_000)
    assert in_viewport(page, bar)  # and the page's reruns leave it there
    settle_charts(page, 1)
    page.wait_for_timeout(4000)  # a few log points
    check(page, outside, width)
    shoot(page, "experiment", width)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("everything measured until then is kept").first.wait_for(timeout=30_000)
    page.context.close()


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def test_report_first_render_times() -> None:
    """Prints the seconds from navigation to each page's title (Runs, Experiment) or to its
    last chart drawn (Results). Speed is measured in benchmarks/page_render.py; here only a
    bound no page comes near unless something is badly wrong (a busy 2-core VM included)."""
    print("\nfirst render (s): " + json.dumps({k: round(v, 2) for k, v in TIMES.items()}))
    slow = {k: v for k, v in TIMES.items() if k != "experiment-cold" and v > 20}
    assert not slow, slow
