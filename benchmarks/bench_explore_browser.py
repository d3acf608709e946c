"""``lo.explore`` over a large traces table, measured in the browser: a real JupyterLab driven by
headless Chromium (the browser tests' harness: tests/annotation/test_annotate_browser.py).

1. First paint: from the call ``lo.explore(traces, results=results)`` in the kernel to the first
   page painted in the browser (the widget stamps the wall clock after the frame that shows its
   rows), beside the same over the first 1,000 traces (the widget's fixed cost) shown right after.
2. Filter and sort, from the user action (the click that sends the query; the widget records
   ``performance.now()``) to the page painted (after the next animation frame): p50/p95 per kind
   of action and over all, the first use of a column (it builds that column's sort order or
   values: cold) apart from the rest, beside the kernel's own time for the same requests and the
   plain next/prev page requests (a round trip with no new index: the floor).
3. Bounded memory: each page message's size, the table rows in the DOM after each action, and the
   JS heap at first paint and at the end.

Synthetic traces from bench_explore.make (the dtypes lo.to_traces gives). Run:

    .venv/bin/python benchmarks/bench_explore_browser.py [--traces 1000000] [--rounds 3] [--think 0]

It runs itself under pytest (for the harness fixtures); figures are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "annotation"))
from test_annotate_browser import browser, lab, page, write_notebook  # noqa: E402, F401  the shared harness

N = int(os.environ.get("BENCH_EXPLORE_TRACES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_EXPLORE_ROUNDS", "3"))
THINK = float(os.environ.get("BENCH_EXPLORE_THINK", "0"))  # seconds a person reads page 1 before acting


def _seq(root) -> int:
    return int(root.get_attribute("data-seq") or 0)


def _act(pg, root, do) -> None:
    """Do one user action and wait until its page is painted."""
    before = _seq(root)
    do()
    pg.wait_for_function("([el, s]) => Number(el.dataset.seq || 0) > s", arg=[root.element_handle(), before],
                           timeout=120_000)


def _pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) if xs else float("nan")


def _line(name: str, xs: list[float]) -> str:
    if not xs:
        return f"   {name:44s} (none)"
    return f"   {name:44s} n={len(xs):3d}  p50 {_pct(xs, 50):8.1f}  p95 {_pct(xs, 95):8.1f}  max {max(xs):8.1f}"


def test_bench_explore_in_the_browser(lab, page):  # noqa: F811
    out = lab.root / "bench_explore.json"
    nb = write_notebook(
        lab.root / "bench_explore.ipynb",
        f"import json, sys, time\nsys.path.insert(0, {str(HERE)!r})\nfrom bench_explore import make\n"
        f"import llmops_nb as lo\ntraces, results = make({N})\nOUT = {str(out)!r}\n"
        "print(len(traces), len(results))",
        "T0 = time.time() * 1000\nw = lo.explore(traces, results=results)\n"
        "BUILT = time.time() * 1000\nw",
        "T0_SMALL = time.time() * 1000\nsmall = traces.head(1000)\n"
        "w_small = lo.explore(small, results=results[results.trace_id.isin(small.trace_id)])\nw_small",
        "open(OUT, 'w').write(json.dumps({'t0': T0, 'built': BUILT, 't0_small': T0_SMALL}))",
    )
    t_open = time.time()
    lab.open(page, nb)
    lab.run_all(page)
    page.wait_for_selector(".lo-ex", timeout=600_000)
    roots = page.locator(".lo-ex")
    page.wait_for_function("() => document.querySelectorAll('.lo-ex').length >= 2 && "
                           "[...document.querySelectorAll('.lo-ex')].every((e) => /^[0-9.]+$/.test(e.dataset.firstPaint || ''))",
                           timeout=600_000)
    deadline = time.time() + 120
    while not out.exists() and time.time() < deadline:
        time.sleep(0.2)
    marks = json.loads(out.read_text())
    big, small = roots.nth(0), roots.nth(1)
    first_paint = float(big.get_attribute("data-first-paint")) - marks["t0"]
    first_small = float(small.get_attribute("data-first-paint")) - marks["t0_small"]
    built = marks["built"] - marks["t0"]
    assert big.get_attribute("data-matching") == str(N)
    time.sleep(THINK)  # 0: act at once, before explore has built anything ahead

    def sort(col: str):
        return lambda: big.locator(f".lo-ex-table th[data-col='{col}']").click()

    def add_filter(col: str, op: str, value: str):
        def do():
            big.locator(".lo-ex-fcol").select_option(col)
            big.locator(".lo-ex-fop").select_option(op)
            big.locator(".lo-ex-fval").fill(value)
            big.locator(".lo-ex-fadd").click()
        return do

    def unfilter():
        return lambda: big.locator(".lo-ex-chipx").last.click()

    seen: set[str] = set()
    kinds: list[tuple[str, bool]] = []  # (label, cold) per action, in order
    tiers = ["enterprise", "pro", "free"]
    for r in range(ROUNDS):
        steps = [
            ("sort latency_ms", "sort:latency_ms", sort("latency_ms")),
            ("flip sort latency_ms", "sort:latency_ms", sort("latency_ms")),
            ("next page", "page", lambda: big.locator(".lo-ex-next").click()),
            ("filter metadata.customer_tier", "col:metadata.customer_tier",
             add_filter("metadata.customer_tier", "=", tiers[r % 3])),
            ("+ filter result.correct", "col:result.correct", add_filter("result.correct", "=", str(r % 2))),
            ("+ filter latency_ms >", "col:latency_ms", add_filter("latency_ms", ">", str(600 + 100 * r))),
            ("remove a filter", "unfilter", unfilter()),
            ("sort cost_usd", "sort:cost_usd", sort("cost_usd")),
            ("sort metadata.turns", "sort:metadata.turns", sort("metadata.turns")),
            ("next page", "page", lambda: big.locator(".lo-ex-next").click()),
            ("remove a filter", "unfilter", unfilter()),
            ("remove a filter", "unfilter", unfilter()),
            ("filter result.helpfulness >=", "col:result.helpfulness",
             add_filter("result.helpfulness", ">=", str([0.8, 0.6, 0.4][r % 3]))),
            ("sort start_time", "sort:start_time", sort("start_time")),
            ("remove a filter", "unfilter", unfilter()),
        ]
        for label, key, do in steps:
            _act(page, big, do)
            cold = key not in seen and key not in ("page", "unfilter")
            seen.add(key)
            kinds.append((label, cold))
    timings = big.evaluate("el => el.__timings")
    heap_end = big.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : null")
    dom_nodes = big.evaluate("el => el.querySelectorAll('*').length")
    assert len(timings) == len(kinds), (len(timings), len(kinds))
    assert not [t for t in timings if t["error"]], [t["error"] for t in timings if t["error"]]

    def pick(pred):
        return [t["ms"] for t, (label, cold) in zip(timings, kinds) if pred(t, label, cold)]

    def server(pred):
        return [t["server_ms"] for t, (label, cold) in zip(timings, kinds) if pred(t, label, cold)]

    def is_fs(t, label, cold):
        return t["action"] in ("sort", "filter", "unfilter")

    print(f"\n\nexplore over {N:,} traces in JupyterLab + headless Chromium "
          f"({ROUNDS} rounds of {len(kinds) // ROUNDS} actions; setup {time.time() - t_open:.0f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"   first action {THINK:.0f} s after the first paint (--think; explore builds the shown columns' "
          "orders and the search text ahead meanwhile)")
    print("\n1. first paint (ms): lo.explore(...) called -> first page painted")
    print(f"   {N:,} traces                                 {first_paint:8.0f}   (kernel side: {built:.0f})")
    print(f"   baseline: the first 1,000 traces             {first_small:8.0f}")
    print("\n2. user action -> page painted (ms), in the browser")
    print(_line("filter + sort, all", pick(is_fs)))
    print(_line("filter + sort, warm (column used before)", pick(lambda t, lab_, c: is_fs(t, lab_, c) and not c)))
    print(_line("filter + sort, cold (first use of a column)", pick(lambda t, lab_, c: is_fs(t, lab_, c) and c)))
    print(_line("  sort", pick(lambda t, lab_, c: t["action"] == "sort")))
    print(_line("  filter (add)", pick(lambda t, lab_, c: t["action"] == "filter")))
    print(_line("  filter (remove)", pick(lambda t, lab_, c: t["action"] == "unfilter")))
    print(_line("baseline: next/prev page (no new index)", pick(lambda t, lab_, c: t["action"] == "page")))
    print(_line("kernel side of filter + sort (page.ms)", server(is_fs)))
    print("   per action (browser ms | kernel ms), first round:")
    for t, (label, cold) in list(zip(timings, kinds))[: len(kinds) // ROUNDS]:
        print(f"     {label:34s}{' (cold)' if cold else '       '} {t['ms']:8.1f} | {t['server_ms']:8.1f}")
    rows = {t["rows"] for t in timings}
    print("\n3. memory in the browser")
    print(f"   page message: max {max(t['bytes'] for t in timings) / 1024:.1f} KiB; table rows in the DOM after each "
          f"action: {sorted(rows)}; elements in the widget at the end: {dom_nodes:,}")
    fh = big.get_attribute("data-first-heap")
    if heap_end and fh and fh not in ("null", ""):
        print(f"   JS heap: {int(fh) / 2**20:.1f} MiB at first paint, {heap_end / 2**20:.1f} MiB after "
              f"{len(timings)} actions")
    assert rows == {50}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--think", type=float, default=0.0, help="seconds between the first paint and the first action")
    args = ap.parse_args()
    os.environ["BENCH_EXPLORE_TRACES"] = str(args.traces)
    os.environ["BENCH_EXPLORE_ROUNDS"] = str(args.rounds)
    os.environ["BENCH_EXPLORE_THINK"] = str(args.think)
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", "-o", "addopts=",
                          "-o", f"python_files={Path(__file__).name}", "-W", "ignore::DeprecationWarning"]))


if __name__ == "__main__":
    main()
