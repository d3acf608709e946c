"""``llmops-nb experiment list|show|compare`` and ``llmops-nb gate``: one gate command for
evaluation results (a results file or store) and for a candidate experiment against a baseline;
both read their rules with the one grammar of :mod:`llmops_nb.rules`."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("experiment", help="list and show stored experiments")
    s = p.add_subparsers(dest="experiment_command", metavar="ACTION")
    ls = s.add_parser("list", help="list stored experiments")
    ls.add_argument("--store", default=None)
    ls.set_defaults(func=_list)
    sh = s.add_parser("show", help="summary of one experiment")
    sh.add_argument("experiment")
    sh.add_argument("--store", default=None)
    sh.set_defaults(func=_show)
    cmp = s.add_parser("compare", help="compare a candidate experiment with a baseline")
    cmp.add_argument("baseline")
    cmp.add_argument("candidate")
    cmp.add_argument("--store", default=None)
    cmp.set_defaults(func=_compare)

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


def _list(args: argparse.Namespace) -> int:
    from llmops_nb.experiments import list_experiments

    df = list_experiments(store=args.store)
    print(df[["experiment_id", "name", "dataset", "dataset_version", "prompt", "model", "status", "created_at"]].to_string(index=False))
    return 0


def _show(args: argparse.Namespace) -> int:
    from llmops_nb.experiments import load_experiment

    exp = load_experiment(args.experiment, store=args.store)
    print(repr(exp))
    print(exp.summary().to_string(index=False))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from llmops_nb.experiments import compare, load_experiment

    a = load_experiment(args.baseline, store=args.store)
    b = load_experiment(args.candidate, store=args.store)
    print(repr(compare(a, b)))
    return 0


def _gate(args: argparse.Namespace) -> int:
    if args.baseline or args.candidate:
        return _gate_experiments(args)
    if args.results is None:
        print("llmops-nb gate: give a RESULTS file or store, or --baseline EXP --candidate EXP", file=sys.stderr)
        return 2
    from llmops_nb.evals import gate
    from llmops_nb.results import read_results

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


def _gate_experiments(args: argparse.Namespace) -> int:
    """``llmops-nb gate --baseline EXP --candidate EXP --rule ...``: exit 1 when the candidate is
    significantly worse on a gated evaluator or over a cost / latency limit."""
    from llmops_nb.experiments import gate_experiments, load_experiment

    if not (args.baseline and args.candidate):
        print("llmops-nb gate: experiment mode needs both --baseline and --candidate", file=sys.stderr)
        return 2
    try:
        a = load_experiment(args.baseline, store=args.store)
        b = load_experiment(args.candidate, store=args.store)
        g = gate_experiments(a, b, args.rule, alpha=args.alpha)
    except (KeyError, ValueError) as e:
        print(f"llmops-nb gate: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    print(f"gate: candidate {b.name} against baseline {a.name}")
    if getattr(args, "format", "text") == "json":
        print(g.table.to_json(orient="records", indent=1))
    else:
        print(repr(g))
    return g.exit_code
