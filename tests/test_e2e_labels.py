"""No two text labels of a chart overlap, in a real browser (Chromium through Playwright) at
1280x800 and at a phone's 390x844: every SVG text node of every plotly chart on the Results
page (each tab) and on the Runs page comparing finished runs, compared box by box. Runs with
`-m e2e`."""

from __future__ import annotations

import pytest

from tests.test_e2e_reading import (  # noqa: F401  (fixtures: one server and browser)
    RUNS,
    TABS,
    WIDTHS,
    browser,
    open_page,
    open_tab,
    server,
    settle_charts,
    warm,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

# every shown text node's box per chart; pairs whose boxes share more than a pixel each way
OVERLAPS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap((plot, i) => {
  const shown = el => {
    for (let e = el; e && e !== plot; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || +s.opacity === 0) return false;
    }
    return true;
  };
  const boxes = [...plot.querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && shown(t))
    .map(t => ({text: t.textContent.trim(), r: t.getBoundingClientRect()}))
    .filter(b => b.r.width > 0 && b.r.height > 0);
  const found = [];
  boxes.forEach((a, j) => boxes.slice(j + 1).forEach(b => {
    const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
    const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
    if (w > 1 && h > 1) found.push(`chart ${i}: "${a.text}" on "${b.text}"`);
  }));
  return found;
})"""


def overlaps(page) -> list[str]:
    page.wait_for_timeout(800)  # charts resize to their column, labels settle
    return page.evaluate(OVERLAPS)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_two_labels_of_a_chart_overlap(browser, warm, width: int) -> None:  # noqa: F811
    found: list[str] = []
    page, _, _ = open_page(browser, warm, f"/results?run={RUNS[0][0]}", width)
    settle_charts(page, 2)
    found += [f"Accuracy: {o}" for o in overlaps(page)]
    for tab, charts in TABS.items():
        open_tab(page, tab, charts)
        found += [f"{tab}: {o}" for o in overlaps(page)]
    page.context.close()
    page, _, _ = open_page(browser, warm, "/runs", width)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 18)  # the header checkbox: every run
    page.get_by_text("Comparing 3 runs").first.wait_for(timeout=30_000)
    settle_charts(page, 3)
    found += [f"Runs: {o}" for o in overlaps(page)]
    page.context.close()
    assert not found, f"{len(found)} overlapping labels at {width} px: {found[:10]}"
