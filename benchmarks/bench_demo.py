"""Benchmark of the simulated application: time to generate N spans (default 1M), to write them
into the embedded store and as OTLP/JSON files, and to load a sample back.

Prints the figures; the baseline measured in the same run is the pure-Python cost of building
the same number of empty span dicts, so the ratio says how much the generator spends per span
beyond that.

Usage: python benchmarks/bench_demo.py [--spans 1000000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="write into this folder and keep it")
    args = ap.parse_args(argv)

    from llmops_nb.demo import generate, write_otlp, write_store
    from llmops_nb.store import Store

    # spans per trace, measured on a small sample
    probe = generate(2000, seed=args.seed)
    per_trace = len(probe) / len(probe.truth)
    n_traces = max(1, round(args.spans / per_trace))

    # baseline: building as many plain dicts with the same number of keys
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(wall times grow with other processes; CPU times are this process only)")
    t, c = time.perf_counter(), time.process_time()
    rows = [dict.fromkeys(range(27)) for _ in range(args.spans)]
    baseline, baseline_cpu = time.perf_counter() - t, time.process_time() - c
    del rows

    t, c = time.perf_counter(), time.process_time()
    data = generate(n_traces, seed=args.seed)
    t_gen, c_gen = time.perf_counter() - t, time.process_time() - c
    n = len(data)
    print(f"generate: {n:,} spans in {n_traces:,} traces in {t_gen:.1f} s wall, {c_gen:.1f} s CPU "
          f"({n / c_gen:,.0f} spans per CPU second); baseline (building as many 27-key dicts) "
          f"{baseline:.1f} s wall, {baseline_cpu:.1f} s CPU: ratio {c_gen / max(baseline_cpu, 1e-9):.1f}x; "
          f"peak RSS {_rss_mb():,.0f} MB")

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-demo-"))
    try:
        t, c = time.perf_counter(), time.process_time()
        files = write_otlp(data, root / "otlp")
        t_otlp, c_otlp = time.perf_counter() - t, time.process_time() - c
        size = sum(p.stat().st_size for p in files)
        print(f"write_otlp: {n:,} spans in {len(files)} files in {t_otlp:.1f} s wall, {c_otlp:.1f} s CPU "
              f"({n / c_otlp:,.0f} spans per CPU second), {size / 1e6:,.0f} MB; peak RSS {_rss_mb():,.0f} MB")

        t, c = time.perf_counter(), time.process_time()
        written = write_store(data, Store(root / "store"))
        t_store, c_store = time.perf_counter() - t, time.process_time() - c
        size = sum(p.stat().st_size for p in (root / "store").rglob("*") if p.is_file())
        print(f"write_store: {written:,} rows in {t_store:.1f} s wall, {c_store:.1f} s CPU (DuckDB threads count), "
              f"{size / 1e6:,.0f} MB on disk; peak RSS {_rss_mb():,.0f} MB")

        t = time.perf_counter()
        spans = Store(root / "store").spans(limit=100_000)
        print(f"store read of 100k spans: {time.perf_counter() - t:.1f} s ({len(spans):,} rows)")
        print(f"total generate + otlp + store: {t_gen + t_store + t_otlp:.1f} s wall, "
              f"{c_gen + c_store + c_otlp:.1f} s CPU; peak RSS {_rss_mb():,.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
