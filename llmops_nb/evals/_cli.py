"""``llmops-nb evaluate`` (``llmops-nb gate`` lives with experiments: it gates results and experiments)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="run evaluators over the stored spans or traces")
    e.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    e.add_argument("--evaluator", "-e", action="append", required=True,
                   help='an evaluator name (is_json) or JSON spec {"name": "regex", "params": {...}}; repeatable')
    e.add_argument("--level", choices=["spans", "traces"], default="spans")
    e.add_argument("--kind", action="append", default=None, help="only spans of this kind (repeatable)")
    e.add_argument("--run-id", default=None, help="run id; reuse one to resume an interrupted run")
    e.add_argument("--concurrency", type=int, default=8)
    e.add_argument("--budget-usd", type=float, default=None)
    e.add_argument("--requests-per-minute", type=int, default=None)
    e.add_argument("--no-cache", action="store_true")
    e.add_argument("--out", default=None, help="also write the results to this .parquet/.csv/.jsonl file")
    e.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from llmops_nb.evals._base import load_evaluator
    from llmops_nb.evals._run import evaluate
    from llmops_nb.store import Store

    store = Store(args.store)
    evs = []
    for spec in args.evaluator:
        s = spec.strip()
        evs.append(load_evaluator(json.loads(s) if s.startswith("{") else s))
    spans = store.spans(kind=args.kind, whole_traces=True) if args.kind else store.spans()
    frame = spans
    if args.level == "traces":
        from llmops_nb.traces import to_traces

        frame = to_traces(spans)
    elif args.kind:
        frame = spans[spans["kind"].isin(args.kind)]
    res = evaluate(frame, evs, spans=spans, store=store, run_id=args.run_id, concurrency=args.concurrency,
                   budget_usd=args.budget_usd, requests_per_minute=args.requests_per_minute,
                   cache=not args.no_cache, progress=None)
    if args.out:
        from llmops_nb.results import write_results

        write_results(res, args.out)
    summary = res.groupby("evaluator").agg(n=("result_id", "size"), errors=("error", lambda s: int(s.notna().sum())),
                                           pass_rate=("passed", lambda s: s.dropna().astype(float).mean()),
                                           mean_score=("score", "mean"), cost_usd=("cost_usd", "sum"))
    run = res["run_id"].iloc[0] if len(res) else args.run_id
    print(f"run {run}: {len(res):,} result rows for {len(frame):,} items in {store.path}")
    print(summary.to_string())
    return 0
