"""``lo.explore`` over a large traces table: the server work per request, beside plain pandas.

The browser gets only the visible page, so what a user waits for is the Python side of each
request (plus one small message). Measured here, on the side of the kernel:

1. Time from construction to the first page: ``Explorer(traces, results=...)`` then page 1
   (lazy: derived columns named from a sample, page 1 computes its own rows' values), beside
   the eager path explore took before (every ``metadata.*`` and ``result.*`` column built
   before page 1), and a plain ``frame.head(50)`` as records.
2. Filter and sort requests (a realistic sequence: sort a column, flip it, page on, filter on
   a metadata key, a result value and a number, search text, remove filters): p50/p95 per
   request, the first use of a column (cold: a sort computes its order, a filter on a
   ``metadata.*``/``result.*`` column builds that column) and the first search (cold: builds the
   lower-cased text it scans) reported apart and together, beside the
   same requests done the plain pandas way (``frame[mask].sort_values(col).iloc[a:b]``).
3. The page message size (JSON), which is what crosses to the browser.

Synthetic traces (repeated request texts with ids, three metadata keys, two evaluators; the
dtypes ``lo.to_traces`` gives), so the figures depend on the machine only. Run:

    .venv/bin/python benchmarks/bench_explore.py [--traces 1000000] [--repeat 3]

The browser side (user action to rendered page, in JupyterLab): benchmarks/bench_explore_browser.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from llmops_nb.views import Explorer  # noqa: E402

TEXTS = ["where is my parcel", "refund my order please", "the app crashes on login", "change my shipping address",
         "cancel my subscription", "how do I reset my password", "is this item in stock", "talk to a human"]


def make(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    i = np.arange(n)
    ids = pd.Series(i).map("t{:07d}".format)
    texts = np.array(TEXTS, dtype=object)[i % len(TEXTS)]
    inputs = pd.Series(texts) + " #" + pd.Series(i).astype(str)
    tiers = np.array(["free", "pro", "enterprise"], dtype=object)[rng.integers(0, 3, n)]
    regions = np.array(["eu", "us", "apac"], dtype=object)[rng.integers(0, 3, n)]
    turns = rng.integers(1, 9, n)
    meta = [{"customer_tier": a, "region": b, "turns": int(c)} for a, b, c in zip(tiers, regions, turns.tolist())]
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400 * 30, n), unit="s")
    traces = pd.DataFrame({
        "trace_id": ids, "name": "agent", "start_time": start, "input_text": inputs,
        "output_text": "answer " + pd.Series(i).astype(str), "latency_ms": rng.gamma(2.0, 300.0, n).round(1),
        "n_spans": rng.integers(1, 30, n), "n_errors": (rng.random(n) < 0.05).astype(int),
        "total_tokens": rng.integers(50, 4000, n), "cost_usd": rng.random(n) / 100, "has_error": rng.random(n) < 0.05,
        "metadata": meta,
    })
    results = pd.DataFrame({
        "trace_id": np.concatenate([ids.to_numpy(), ids.to_numpy()]), "span_id": None,
        "evaluator": np.repeat(["correct", "helpfulness"], n),
        "passed": np.concatenate([rng.random(n) < 0.8, np.full(n, None)]),
        "score": np.concatenate([np.zeros(n), rng.integers(1, 6, n) / 5]),
        "label": None, "error": None,
    })
    results["score"] = np.where(results["passed"].notna(), results["passed"].astype(float), results["score"])
    # the dtypes lo.to_traces and the results table have: Python strings, nullable ints and booleans
    traces = traces.astype({"trace_id": object, "name": object, "input_text": object, "output_text": object,
                            "n_spans": "Int64", "n_errors": "Int64", "total_tokens": "Int64", "has_error": "boolean"})
    results = results.astype({"trace_id": object, "evaluator": object})
    return traces, results


REQUESTS = [
    ("sort latency (cold)", {"sort": "latency_ms", "desc": False, "offset": 0}),
    ("flip sort", {"desc": True}),
    ("page 2", {"offset": 50}),
    ("page 1000", {"offset": 50_000}),
    ("filter tier=enterprise (cold)", {"filters": [{"column": "metadata.customer_tier", "op": "=", "value": "enterprise"}], "offset": 0}),
    ("+ result.correct=0 (cold)", {"filters": [{"column": "metadata.customer_tier", "op": "=", "value": "enterprise"},
                                        {"column": "result.correct", "op": "=", "value": 0}]}),
    ("+ latency>800", {"filters": [{"column": "metadata.customer_tier", "op": "=", "value": "enterprise"},
                                   {"column": "result.correct", "op": "=", "value": 0},
                                   {"column": "latency_ms", "op": ">", "value": 800}]}),
    ("sort cost (cold)", {"sort": "cost_usd", "desc": True}),
    ("search 'refund' (cold)", {"search": "refund"}),
    ("search 'refund order'", {"search": "refund order"}),
    ("clear filters", {"filters": [], "search": ""}),
    ("sort start_time (cold)", {"sort": "start_time", "desc": False}),
    ("filter region=eu (cold)", {"filters": [{"column": "metadata.region", "op": "=", "value": "eu"}]}),
    ("sort latency again", {"sort": "latency_ms"}),
    ("page 3", {"offset": 100}),
    ("filter helpfulness>=0.8 (cold)", {"filters": [{"column": "result.helpfulness", "op": ">=", "value": 0.8}], "offset": 0}),
]


def pandas_request(frame: pd.DataFrame, q: dict) -> pd.DataFrame:
    """The same request the plain way: mask, sort the matching rows, slice a page."""
    m = np.ones(len(frame), dtype=bool)
    for f in q.get("filters") or []:
        s = frame[f["column"]]
        v = f["value"]
        m &= {"=": s == v, ">": s > v, ">=": s >= v}[f["op"]].to_numpy(dtype=bool)
    for w in (q.get("search") or "").lower().split():
        m &= frame["input_text"].str.lower().str.contains(w, regex=False).to_numpy()
    sub = frame[m]
    if q.get("sort"):
        sub = sub.sort_values(q["sort"], ascending=not q.get("desc"), na_position="last", kind="stable")
    return sub.iloc[q["offset"]: q["offset"] + q["size"]]


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the request sequence (fresh table each)")
    args = ap.parse_args()
    n = args.traces
    t0 = time.perf_counter()
    traces, results = make(n)
    print(f"explore over {n:,} traces ({len(results):,} result rows; synthetic data built in {time.perf_counter() - t0:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

    lazy, eager, head, warm, cold, base, sizes = [], [], [], [], [], [], []
    per: dict[str, list[float]] = {}
    for rep in range(args.repeat):
        # the eager path (the previous explore): every derived column built before page 1
        t0 = time.perf_counter()
        ex_eager = Explorer(traces, results=results)
        full = ex_eager.engine.materialize()
        ex_eager.page()
        eager.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        traces.head(50).to_dict("records")
        head.append(time.perf_counter() - t0)
        # lazy: construction to first page
        t0 = time.perf_counter()
        ex = Explorer(traces, results=results)
        p = ex.page()
        lazy.append(time.perf_counter() - t0)
        # what the widget does once the view has painted page 1: index results by trace in a thread
        threading.Thread(target=ex.engine.warm, daemon=True).start()
        sizes.append(len(json.dumps(p, default=str)))
        q = dict(ex.query)
        for name, patch in REQUESTS:
            q = {**q, **patch}
            t = time.perf_counter()
            p = ex.page(q)
            dt = (time.perf_counter() - t) * 1000
            (cold if "cold" in name else warm).append(dt)
            per.setdefault(name, []).append(dt)
            sizes.append(len(json.dumps(p, default=str)))
            if rep == 0:  # the baseline: the same request done the plain pandas way
                t = time.perf_counter()
                pandas_request(full, ex.query)
                base.append((time.perf_counter() - t) * 1000)
                per.setdefault(name + " [pandas]", []).append(base[-1])
        del ex_eager, full
        if rep == 0:
            print(f"  last request matched {p['matching']:,} rows; page of {len(p['rows'])} rows; "
                  f"derived columns built by the requests: {ex.engine.built()}")

    print("\n1. construction to first page (ms), median of", args.repeat)
    print(f"   explore (lazy)                                      {np.median(lazy) * 1000:8.1f}")
    print(f"   eager build, the previous path (all derived columns) {np.median(eager) * 1000:8.1f}")
    print(f"   baseline: frame.head(50) as records                  {np.median(head) * 1000:8.1f}")
    print(f"\n2. filter/sort requests, server side (ms), {len(warm)} warm + {len(cold)} cold requests")
    print(f"   explore  p50 {pct(warm, 50):8.1f}   p95 {pct(warm, 95):8.1f}   max {max(warm):8.1f}")
    print(f"   explore first use of a column or first search (cold)  p50 {pct(cold, 50):8.1f}   max {max(cold):8.1f}")
    print(f"   explore all requests  p50 {pct(warm + cold, 50):8.1f}   p95 {pct(warm + cold, 95):8.1f}")
    print(f"   baseline pandas mask+sort_values+slice  p50 {pct(base, 50):8.1f}   p95 {pct(base, 95):8.1f}   "
          f"max {max(base):8.1f}")
    print("   per request (ms; explore median over passes | pandas):")
    for name, _ in REQUESTS:
        print(f"     {name:28s} {np.median(per[name]):8.1f} | {per[name + ' [pandas]'][0]:8.1f}")
    print(f"\n3. page message to the browser: max {max(sizes) / 1024:.1f} KiB (the whole table as JSON would be "
          f"~{len(traces.head(1000).to_json(orient='records', date_format='iso')) * n / 1000 / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()
