"""Session-grain benchmarks; every figure is printed beside a baseline measured in the same run.

1. The sessions table for 1M spans (~150k traces; target < 5 s): ``lo.to_sessions(spans)``,
   beside the traces table it builds on (``lo.to_traces``) and a bare pandas groupby that
   counts turns per session (no lists, no sums).
2. The rule session evaluators (turn count, repeated user messages, tool loop, escalation)
   over 100k sessions through ``lo.evaluate`` into result rows (target < 10 s), beside the
   bare checks (``evaluate_batch`` of each, no result rows).

The spans are the simulated app's (with planted session failures), repeated with fresh trace
and session ids up to the size asked.

Run: .venv/bin/python benchmarks/bench_sessions.py [--spans 1000000] [--sessions 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import pandas as pd  # noqa: E402

import llmops_nb as lo  # noqa: E402
from llmops_nb.evals import EscalationReached, RepeatedUserMessages, ToolLoop, TurnCount  # noqa: E402
from llmops_nb.schema import SPANS, from_arrow  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def line(label: str, value: str) -> None:
    print(f"  {label:<58} {value}", flush=True)


CPU: dict[str, float] = {}


def best(fn, repeat: int = 2, key: str = "") -> tuple[float, object]:
    """The best wall time of ``repeat`` runs, and the last result; the best CPU time of this
    process goes to ``CPU[key]`` (on a shared machine it is what the wall time would be alone)."""
    times, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    CPU[key] = min(cpus)
    return min(times), out


def fmt(t: float, key: str) -> str:
    return f"{t:.2f} s wall, {CPU[key]:.2f} s CPU"


def big_spans(n_spans: int, seed: int = 0) -> pd.DataFrame:
    from llmops_nb.demo import generate, plant_session_failures

    base = plant_session_failures(generate(6000, seed=seed), seed=seed).arrow
    parts, n, k = [], 0, 0
    while n < n_spans:
        sfx = pa.scalar(f"-{k}")
        t = base
        for col in ("trace_id", "session_id"):
            i = t.schema.get_field_index(col)
            t = t.set_column(i, col, pc.binary_join_element_wise(t[col], sfx, ""))
        parts.append(t.slice(0, min(t.num_rows, n_spans - n)))
        n += parts[-1].num_rows
        k += 1
    return from_arrow(pa.concat_tables(parts), SPANS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    print(f"building {args.spans:,} spans from the simulated app ...", flush=True)
    spans = big_spans(args.spans)
    n_traces = spans["trace_id"].nunique()
    print(f"\n1. sessions table: {len(spans):,} spans, {n_traces:,} traces (target < 5 s)")
    t_sess, sessions = best(lambda: lo.to_sessions(spans), args.repeat, "sessions")
    t_traces, _ = best(lambda: lo.to_traces(spans), args.repeat, "traces")
    t_group, _ = best(lambda: spans.groupby("session_id")["trace_id"].nunique(), args.repeat, "group")
    line("lo.to_sessions(spans)", f"{fmt(t_sess, 'sessions')} ({len(sessions):,} sessions)")
    line("baseline: lo.to_traces(spans) (one row per trace)", fmt(t_traces, "traces"))
    line("baseline: pandas groupby(session_id).trace_id.nunique()", fmt(t_group, "group"))
    line("peak memory", f"{peak_mb():,.0f} MB")

    print(f"\n2. rule session evaluators over {args.sessions:,} sessions (target < 10 s)")
    reps = -(-args.sessions // len(sessions))
    many = pd.concat([sessions.assign(session_id=sessions["session_id"] + f"-r{k}") for k in range(reps)],
                     ignore_index=True).head(args.sessions)
    evs = [TurnCount(), RepeatedUserMessages(), ToolLoop(), EscalationReached()]
    t_eval, res = best(lambda: lo.evaluate(many, evs, cache=False, progress=False), args.repeat, "eval")
    t_bare, _ = best(lambda: [ev.evaluate_batch(many) for ev in evs], args.repeat, "bare")
    line("lo.evaluate(sessions, 4 rule checks)", f"{fmt(t_eval, 'eval')} ({len(res):,} result rows)")
    line("baseline: the 4 checks' evaluate_batch alone (no rows)", fmt(t_bare, "bare"))
    fail = res.groupby("evaluator")["passed"].agg(lambda s: 1 - s.astype(float).mean())
    line("failure rates", ", ".join(f"{k} {v:.1%}" for k, v in fail.items()))
    line("peak memory", f"{peak_mb():,.0f} MB")
    print(f"\nload average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
