"""``llmops-nb experiment list|show`` and the experiment mode of ``llmops-nb gate``."""

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


def gate_main(args: argparse.Namespace) -> int:
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
