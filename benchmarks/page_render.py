"""How fast does each page first render? (Target: under 2 s, issue 13.)

Starts `streamlit run app.py` on a free loopback port over a temporary runs folder holding one
small finished run and one small finished sweep, visits every page once to warm the server
(imports, caches), then opens each page `--repeats` times in Debian's Chromium through
Playwright at 1280x800 and at a phone's 390x844, and prints the median of:

  title    navigation start -> the page's title (h1) is in the document;
  screen   -> its first screen: the Start button (Experiment), the last table (data grid:
           the results table, the runs table, the sweep's cells and paired tables);
  charts   -> its last chart (plotly) drawn without a click.

Three ways in: cold, a fresh browser context per visit (a first visit: every script of
streamlit's frontend is fetched and compiled again); warm, a new tab in a context that has seen
every page (streamlit's scripts in the browser's cache, as for someone coming back); nav, a
click on the page's link in the app's top bar from a page without charts (Runs for the
Experiment page, else Experiment), timed from the click: the page's address without a query,
so Results shows the newest finished run (the only one) and Sweeps its form alone.

The times come from the page itself (performance.now() in a MutationObserver installed
before the page's scripts), so Playwright's own round trips are not counted. A page counts as
settled once the script has stopped running, every chart on it has drawn, and for 1 s of the
page's clock nothing was added and no long task ran (the Results page draws its charts a
moment after its first screen, and evaluating plotly's bundle blocks the page meanwhile).

    python benchmarks/page_render.py                 # every page, both widths, 3 repeats
    python benchmarks/page_render.py --repeats 5 --pages results,runs --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("BEDASH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WIDTHS = {1280: 800, 390: 844}
RUN = "20261203-090000-a1b2c3"
SWEEP = "sweep-20261203-100000"
PAGES = {  # name -> (path, what its first screen waits for)
    "experiment": ("/", "start"),
    "results": (f"/results?run={RUN}", "tables"),
    "runs": ("/runs", "tables"),
    "sweeps": (f"/sweeps?sweep={SWEEP}", "tables"),
}
NAV_FROM = {"experiment": "/runs", "results": "/", "runs": "/", "sweeps": "/"}  # no charts there
RESET = """name => { window.__want = name; window.__t0 = performance.now();
                      window.__marks = {title: null, start: null, charts: null, tables: null,
                                        n: 0, t: 0} }"""
MARKS = """
window.__t0 = 0;  // a click on the page links sets these three (nav)
window.__want = null;
window.__marks = {title: null, start: null, charts: null, tables: null, n: 0, t: 0};
new MutationObserver(() => {
  const m = window.__marks, t = performance.now() - window.__t0;
  if (m.title === null && [...document.querySelectorAll('h1')]
        .some(h => window.__want === null || h.innerText.trim() === window.__want)) m.title = t;
  if (m.start === null && [...document.querySelectorAll('button')]
        .some(b => b.innerText.trim().endsWith('Start'))) m.start = t;
  const c = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(e => e.querySelector('.main-svg')).length;
  const g = document.querySelectorAll('[data-testid="stDataFrame"] canvas').length;
  if (c > m.n) { m.n = c; m.charts = t; }
  if (g > m.t) { m.t = g; m.tables = t; }
  const key = [m.title, m.start, m.n, m.t].join();
  if (key !== window.__key) { window.__key = key; window.__changed = performance.now(); }
}).observe(document, {childList: true, subtree: true});
// the end of the last long task: a page busy evaluating a script changes nothing meanwhile
window.__busy = 0;
new PerformanceObserver(list => { for (const e of list.getEntries())
  window.__busy = Math.max(window.__busy, e.startTime + e.duration); })
  .observe({type: "longtask", buffered: true});
"""
QUIET = "() => performance.now() - Math.max(window.__busy, window.__changed || 0)"
RUNNING = '[data-test-script-state="running"]'  # set on the app while its script runs
UNDRAWN = """() => document.querySelector('[data-testid="stSkeleton"]') !== null ||
    [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .some(c => !c.querySelector('.main-svg'))"""  # an element or a chart still loading


def make_data(runs: Path) -> None:
    """One run of three models (1,000 images, 3 epochs) and a 2 x 2 sweep of tiny cells."""
    from bedash.experiment import run_experiment
    from bedash.settings.config import RunConfig
    from bedash.sweep.engines import LocalEngine
    from bedash.sweep.grid import SweepSpec
    from bedash.sweep.run import run_sweep

    small = RunConfig(dataset="synthetic", members=3, batch_size=64, device="cpu")
    run_experiment(small.replace(train_size=1000, test_size=500, epochs=3, hidden=32), runs / RUN)
    base = small.replace(train_size=400, test_size=200, epochs=2, hidden=16)
    grid = SweepSpec(base, {"members": [2, 4]}, [0, 1])
    run_sweep(grid, runs / SWEEP, LocalEngine(run_experiment))


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "BEDASH_RUNS_DIR": str(tmp / "runs"),
        "BEDASH_DATA_DIR": str(tmp / "data"),
        "BEDASH_SWEEP_ENGINE": "local",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BEDASH_PROFILE", None)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    cmd += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    cmd += ["--browser.gatherUsageStats", "false"]
    log = open(tmp / "server.log", "w")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"streamlit did not start: {(tmp / 'server.log').read_text()[-2000:]}")


def visit(context, url: str, wants: str, nav: tuple[str, str] | None = None) -> dict:
    """One first render in a new tab of context: seconds to the title and to the content.
    nav (the page to start from, the page link's title): open that first, then click the
    link; the times count from the click."""
    page = context.new_page()
    if nav is None:
        page.goto(url)
    else:
        page.goto(nav[0])
        settle(page)
        link = page.get_by_test_id("stTopNavLink").filter(has_text=nav[1]).first
        if not link.is_visible():  # a phone's width: the links are in the sidebar
            link = page.get_by_test_id("stSidebarNavLink").filter(has_text=nav[1]).first
            expand = page.get_by_test_id("stExpandSidebarButton")
            if expand.count() and expand.is_visible():
                expand.click()
            page.wait_for_timeout(500)  # the sidebar slides in
        page.evaluate(RESET, nav[1])
        link.click()
        page.wait_for_function(
            "name => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === name)",
            arg=nav[1],
        )
    page.locator("h1").first.wait_for(timeout=60_000)
    m = settle(page)
    page.close()
    s = {k: (None if m[k] is None else m[k] / 1000) for k in ("title", "start", "charts", "tables")}
    counts = {"n_charts": m["n"], "n_tables": m["t"]}
    return {"title": s["title"], "screen": s[wants], "charts": s["charts"], **counts}


def settle(page) -> dict:
    """The marks, once the script has stopped, every chart has drawn and for 1 s (of the
    page's clock) nothing was added and no long task ran."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if page.locator(RUNNING).count() or page.evaluate(UNDRAWN):
            continue
        if page.evaluate(QUIET) > 1000:
            break
    return page.evaluate("() => window.__marks")


def context_for(browser, width: int):
    context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]})
    context.add_init_script(MARKS)
    return context


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", default=",".join(PAGES), help="comma list of " + ", ".join(PAGES))
    ap.add_argument("--widths", default="1280,390")
    ap.add_argument("--modes", default="cold,warm,nav", help="cold, warm, nav (see above)")
    ap.add_argument("--json", type=Path, help="also write every measurement here")
    args = ap.parse_args()
    pages = args.pages.split(",")
    widths = [int(w) for w in args.widths.split(",")]
    modes = args.modes.split(",")

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bedash-render-"))
    print("making a run and a sweep ...", flush=True)
    make_data(tmp / "runs")
    proc, url = start_server(tmp)
    out: dict[str, list[dict]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # the server warms up: app.py's navigation first (a deep link before it runs the
            # page alone), then every page once (imports, caches); a warm browser per width
            # has seen every page once too
            warm = {w: context_for(browser, w) for w in widths}
            for context in warm.values():
                visit(context, url + "/", "start")
                for name in pages:
                    visit(context, url + PAGES[name][0], PAGES[name][1])
            for _ in range(args.repeats):  # interleaved: a noisy moment hurts every page alike
                for name in pages:
                    for width in widths:
                        for mode in modes:
                            context = context_for(browser, width) if mode == "cold" else warm[width]
                            nav = None
                            if mode == "nav":  # the page link: the page's own address, bare
                                nav = (url + NAV_FROM[name], name.capitalize())
                            r = visit(context, url + PAGES[name][0], PAGES[name][1], nav)
                            out.setdefault(f"{name}-{width}-{mode}", []).append(r)
                            if mode == "cold":
                                context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    def med(rows: list[dict], key: str) -> str:
        values = [r[key] for r in rows if r[key] is not None]
        return f"{statistics.median(values):.2f}" if values else "—"

    print(f"\nfirst render, median of {args.repeats} (s), load average {os.getloadavg()[0]:.1f}")
    print(f"{'page':<12}{'width':>6}{'way in':>8}{'title':>8}{'screen':>8}{'charts':>8}  drawn")
    for key, rows in out.items():
        name, width, mode = key.rsplit("-", 2)
        drawn = f"{rows[-1]['n_charts']} charts, {rows[-1]['n_tables']} tables"
        print(
            f"{name:<12}{width:>6}{mode:>8}{med(rows, 'title'):>8}{med(rows, 'screen'):>8}"
            f"{med(rows, 'charts'):>8}  {drawn}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
