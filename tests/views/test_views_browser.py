"""lo.explore and lo.compare_outputs in a real JupyterLab driven by headless Chromium: a row
ticked in the view reaches Python (``w.selected``), paging through 200k rows sends one page at a
time (each request timed by the view from the click to the painted page), and j/k/x step and
select in compare_outputs. Timing figures over 1M rows: benchmarks/bench_explore_browser.py. The JupyterLab harness (server, browser,
page fixtures) is the annotation browser tests' one; kept light (two shared cores)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "annotation"))
from test_annotate_browser import browser, lab, page, write_notebook  # noqa: E402, F401  the shared harness

pytestmark = pytest.mark.browser


def _wait_json(path: Path, ok, timeout: float = 60) -> dict:
    deadline, got = time.time() + timeout, None
    while time.time() < deadline:
        if path.exists():
            try:
                got = json.loads(path.read_text())
            except ValueError:  # caught mid-write
                got = None
            if got is not None and ok(got):
                return got
        time.sleep(0.2)
    raise AssertionError(f"the kernel never wrote what was expected to {path.name}: last {got}")


def test_explore_pages_sorts_filters_and_selection_reaches_python(lab, page):  # noqa: F811
    out = lab.root / "explore.json"
    nb = write_notebook(
        lab.root / "explore.ipynb",
        "import json, numpy as np, pandas as pd, llmops_nb as lo\n"
        "n = 200_000\n"
        "traces = pd.DataFrame({'trace_id': [f't{i:06d}' for i in range(n)],\n"
        "    'input_text': np.where(np.arange(n) % 4 == 0, 'refund please', 'where is my parcel'),\n"
        "    'latency_ms': (np.arange(n) * 7919 % 1000).astype(float),\n"
        "    'metadata': [{'tier': 'pro' if i % 2 else 'free'} for i in range(n)]})\n"
        "w = lo.explore(traces, page_size=25)\n"
        f"OUT = {str(out)!r}\n"
        "def dump(_=None):\n"
        "    open(OUT, 'w').write(json.dumps({'selected': w.selected['trace_id'].tolist(), 'query': w.query,\n"
        "        'page_rows': len(w.page['rows']), 'matching': w.page['matching']}))\n"
        "w.observe(dump, names=['selected_count', 'page'])\n"
        "w",
    )
    lab.open(page, nb)
    lab.run_all(page)
    root = page.locator(".lo-ex").last
    root.wait_for(timeout=90_000)
    page.wait_for_selector(".lo-ex[data-matching='200000'] .lo-ex-table tbody tr")
    assert page.locator(".lo-ex-table tbody tr").count() == 25  # one page in the DOM, not 200k rows
    # next page
    page.locator(".lo-ex-next").click()
    page.wait_for_selector(".lo-ex[data-offset='25']")
    assert page.locator(".lo-ex-table tbody tr").first.get_attribute("data-id") == "t000025"
    # sort by latency, descending (two clicks on the header)
    page.locator(".lo-ex-table th[data-col='latency_ms']").click()
    page.wait_for_selector(".lo-ex[data-offset='0']")
    page.locator(".lo-ex-table th[data-col='latency_ms']").click()
    page.wait_for_selector(".lo-ex-table th[data-col='latency_ms']:text('▼')")
    first = page.locator(".lo-ex-table tbody tr").first.locator("td").nth(3).inner_text()  # checkbox, id, input, latency
    assert float(first) == 999.0
    # filter on a metadata key and search
    page.locator(".lo-ex-fcol").select_option("metadata.tier")
    page.locator(".lo-ex-fop").select_option("=")
    page.locator(".lo-ex-fval").fill("free")
    page.locator(".lo-ex-fadd").click()
    page.wait_for_selector(".lo-ex[data-matching='100000']")
    page.locator(".lo-ex-search").fill("refund")
    page.wait_for_selector(".lo-ex[data-matching='50000']")
    # tick two rows: the selection reaches the kernel as w.selected
    ids = [page.locator(".lo-ex-table tbody tr").nth(i).get_attribute("data-id") for i in (0, 2)]
    for i in (0, 2):
        page.locator(".lo-ex-table tbody tr").nth(i).locator("input[type=checkbox]").click()
    got = _wait_json(out, lambda g: len(g["selected"]) == 2)
    assert got["selected"] == ids and all(int(t[1:]) % 4 == 0 for t in ids)
    assert got["query"]["search"] == "refund" and got["page_rows"] == 25
    # select all matching: the whole filtered set, computed in Python
    page.locator(".lo-ex-selall").click()
    got = _wait_json(out, lambda g: len(g["selected"]) == 50_000)
    page.wait_for_selector(".lo-ex[data-selected='50000']")
    # clicking a row opens it in the trace pane
    page.locator(".lo-ex-table tbody tr").nth(1).locator("td").nth(1).click()
    page.wait_for_selector(".lo-ex-trace .lo-ex-detail")
    # every request the view sent came back as its page (sequence echoed) and was timed from the
    # click to the painted page; each page message holds one page, and the DOM one page of rows
    timings = root.evaluate("el => el.__timings")
    assert [t["action"] for t in timings] == ["page", "sort", "sort", "filter", "search"]
    assert [t["seq"] for t in timings] == list(range(1, 6)) and root.get_attribute("data-seq") == "5"
    assert all(t["ms"] > 0 and t["rows"] == 25 and t["error"] is None for t in timings)
    assert max(t["bytes"] for t in timings) < 8 * 1024  # 25 rows of 4 columns, whatever the table's size
    assert float(root.get_attribute("data-first-paint")) > 0


def test_compare_outputs_steps_with_j_k_and_x_selects(lab, page):  # noqa: F811
    out = lab.root / "compare.json"
    nb = write_notebook(
        lab.root / "compare.ipynb",
        "import json, pandas as pd, llmops_nb as lo\n"
        "ids = [f'e{i}' for i in range(6)]\n"
        "a = pd.DataFrame({'example_id': ids, 'output_text': ['the answer is 4'] * 6, 'score.exact': [1.0] * 6})\n"
        "b = pd.DataFrame({'example_id': ids, 'output_text': ['the answer is 5', 'the answer is 4'] * 3,\n"
        "                  'score.exact': [0.0, 1.0] * 3})\n"
        "w = lo.compare_outputs(a, b)\n"
        f"OUT = {str(out)!r}\n"
        "w.observe(lambda _c: open(OUT, 'w').write(json.dumps({'selected': w.selected['example_id'].tolist()})),"
        " names=['selected_ids'])\n"
        "w",
    )
    lab.open(page, nb)
    lab.run_all(page)
    page.wait_for_selector(".lo-cmp[data-example-id='e0']", timeout=90_000)
    assert page.locator(".lo-cmp del").first.inner_text() == "4" and page.locator(".lo-cmp ins").first.inner_text() == "5"
    page.focus(".lo-cmp")
    page.keyboard.press("j")
    page.wait_for_selector(".lo-cmp[data-example-id='e1']")
    page.keyboard.press("j")
    page.wait_for_selector(".lo-cmp[data-example-id='e2']")
    page.keyboard.press("k")
    page.wait_for_selector(".lo-cmp[data-example-id='e1']")
    page.keyboard.press("2")  # regressions only
    page.wait_for_selector(".lo-cmp[data-example-id='e0'][data-cursor='0']")
    assert "1 of 3" in page.locator(".lo-cmp-pos").inner_text()
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.wait_for_selector(".lo-cmp[data-example-id='e2']")
    page.keyboard.press("x")
    got = _wait_json(out, lambda g: len(g["selected"]) == 2)
    assert got["selected"] == ["e0", "e2"]
