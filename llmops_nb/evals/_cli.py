"""``llmops-nb evaluate`` and ``llmops-nb gate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
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

    g = sub.add_parser("gate", help="check quality rules on evaluation results; exit 1 when one fails")
    g.add_argument("results", nargs="?", default=None,
                   help="a results file (.parquet, .csv, .jsonl, .json) or a store folder")
    g.add_argument("--baseline", default=None, help="experiment id or name: gate a candidate experiment against it")
    g.add_argument("--candidate", default=None, help="experiment id or name (with --baseline)")
    g.add_argument("--store", default=None, help="store folder holding the experiments (with --baseline)")
    g.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired tests (with --baseline)")
    g.add_argument("--rule", "-r", action="append", required=True, help='e.g. "groundedness>=0.9"; repeatable')
    g.add_argument("--run-id", default=None, help="only this run (default: every row; for a store, the latest run)")
    g.add_argument("--strict", action="store_true", help="the whole confidence interval must satisfy each rule")
    g.add_argument("--confidence", type=float, default=0.95)
    g.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    g.set_defaults(func=_gate)


def read_results(path: str, run_id: str | None = None) -> Any:
    """Results from a file or a store folder (the latest run of a store when no run_id)."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        from llmops_nb.store import Store

        store = Store(p)
        if run_id is None:
            latest = store.sql("SELECT run_id FROM results ORDER BY created_at DESC LIMIT 1")
            if len(latest):
                run_id = latest["run_id"].iloc[0]
        return store.results("run_id = ?", [run_id]) if run_id else store.results()
    if not p.exists():
        raise FileNotFoundError(f"results file {path!r} does not exist; pass a .parquet/.csv/.jsonl file or a store folder")
    suf = p.suffix.lower()
    if suf == ".parquet":
        df = pd.read_parquet(p)
    elif suf == ".csv":
        df = pd.read_csv(p)
    elif suf in (".jsonl", ".ndjson"):
        df = pd.read_json(p, lines=True)
    elif suf == ".json":
        df = pd.read_json(p)
    else:
        raise ValueError(f"cannot read results from {path!r}; valid: .parquet, .csv, .jsonl, .json or a store folder")
    if "error" in df.columns:
        df["error"] = df["error"].where(df["error"].notna() & (df["error"].astype(str) != ""), None)
    if run_id is not None and "run_id" in df.columns:
        df = df[df["run_id"] == run_id]
    return df


def write_results(df: Any, path: str) -> None:
    """Write results as .parquet (declared schema), .csv or .jsonl."""
    suf = Path(path).suffix.lower()
    if suf == ".parquet":
        import pyarrow.parquet as pq

        from llmops_nb.schema import RESULTS, to_arrow

        pq.write_table(to_arrow(df, RESULTS), path)
    elif suf == ".csv":
        df.to_csv(path, index=False)
    elif suf in (".jsonl", ".ndjson"):
        df.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        raise ValueError(f"cannot write results to {path!r}; valid suffixes: .parquet, .csv, .jsonl")


def _gate(args: argparse.Namespace) -> int:
    from llmops_nb.evals._gate import gate

    if args.baseline or args.candidate:  # experiment mode: the CLI glue hands over to experiments
        from importlib import import_module

        return int(import_module("llmops_nb.experiments._cli").gate_main(args))
    if args.results is None:
        print("llmops-nb gate: give a RESULTS file or store, or --baseline EXP --candidate EXP", file=sys.stderr)
        return 2

    try:
        df = read_results(args.results, args.run_id)
        report = gate(df, args.rule, confidence=args.confidence, strict=args.strict)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"llmops-nb gate: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(report.to_frame().to_json(orient="records", indent=1))
    elif args.format == "markdown":
        print(report.to_markdown())
    else:
        print(report)
    return 0 if report.passed else 1


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
        write_results(res, args.out)
    summary = res.groupby("evaluator").agg(n=("result_id", "size"), errors=("error", lambda s: int(s.notna().sum())),
                                           pass_rate=("passed", lambda s: s.dropna().astype(float).mean()),
                                           mean_score=("score", "mean"), cost_usd=("cost_usd", "sum"))
    run = res["run_id"].iloc[0] if len(res) else args.run_id
    print(f"run {run}: {len(res):,} result rows for {len(frame):,} items in {store.path}")
    print(summary.to_string())
    return 0
