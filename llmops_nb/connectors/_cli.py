"""``llmops-nb pull SOURCE``: pull what is new in a backend into the store; ``llmops-nb push
TARGET``: write results, labels, failure modes and a dataset back to it."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pull", help="pull traces incrementally from a backend (phoenix, langfuse, langsmith, mlflow, datadog)",
        description="Credentials come from each backend's usual environment variables "
        "(LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY, LANGSMITH_API_KEY, DD_API_KEY/DD_APP_KEY, "
        "PHOENIX_API_KEY, MLFLOW_TRACKING_TOKEN); they are never written to the store or printed. "
        "For OTLP collectors use `llmops-nb collect`.",
    )
    p.add_argument("source", help="phoenix, langfuse, langsmith, mlflow or datadog")
    p.add_argument("--project", default=None, help="project / experiment / ml_app name")
    p.add_argument("--url", default=None, help="backend URL (default: the backend's environment variable)")
    p.add_argument("--since", default=None, help="start time (ISO 8601); default: the stored watermark")
    p.add_argument("--until", default=None, help="end time (ISO 8601); default: now")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="a source filter (repeatable); see `llmops-nb pull --list`")
    p.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--page-size", type=int, default=None)
    p.add_argument("--full", action="store_true", help="ignore the watermark and pull everything again")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_pull)
    _add_push(sub)


def _add_push(sub: Any) -> None:
    p = sub.add_parser(
        "push", help="write results, labels, failure modes and datasets back to a backend "
        "(langfuse, phoenix, langsmith, mlflow, datadog)",
        description="Sends only rows that are new or changed since the last push (recorded in the store); "
        "rows about traces that did not come from TARGET are listed, not sent. Credentials as for `pull`.",
    )
    p.add_argument("target", help="langfuse, phoenix, langsmith, mlflow or datadog")
    p.add_argument("--results", nargs="?", const="store", default=None, metavar="FILE",
                   help="push evaluation results: the store's (no value) or a results file (.parquet/.csv/.jsonl)")
    p.add_argument("--run-id", default=None, help="only the results of this evaluation run")
    p.add_argument("--labels", nargs="?", const="store", default=None, metavar="FILE",
                   help="push human labels: the store's (no value) or a labels file")
    p.add_argument("--failure-modes", default=None, metavar="FILE",
                   help="a frame from assign_failure_modes saved as .parquet/.csv/.jsonl")
    p.add_argument("--dataset", default=None, metavar="FILE",
                   help="an examples file (.parquet/.jsonl, e.g. from `llmops-nb datasets export`)")
    p.add_argument("--dataset-name", default=None, help="the dataset's name in the backend (default: the file's stem)")
    p.add_argument("--project", default=None, help="project / experiment / ml_app name")
    p.add_argument("--url", default=None, help="backend URL (default: the backend's environment variable)")
    p.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--dry-run", action="store_true", help="send nothing; print what would be sent")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_push)


def _table(path: str) -> Any:
    import pandas as pd

    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".csv"):
        return pd.read_csv(path)
    if path.endswith((".jsonl", ".ndjson")):
        return pd.read_json(path, lines=True)
    if path.endswith(".json"):
        return pd.read_json(path)
    raise ValueError(f"{path}: unknown table format; valid: .parquet, .csv, .jsonl, .json")


def _push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmops_nb.connectors import PullError, push
    from llmops_nb.results import read_results
    from llmops_nb.store import as_store

    if not any((args.results, args.labels, args.failure_modes, args.dataset)):
        print("error: nothing to push: give --results, --labels, --failure-modes and/or --dataset")
        return 2
    try:
        st = as_store(args.store)
        res = None
        if args.results:
            if args.results == "store":  # every run's latest result per item (not only the last run)
                res = st.results("run_id = ?", [args.run_id]) if args.run_id else st.results()
            else:
                res = read_results(args.results, run_id=args.run_id)
        labs = None
        if args.labels:
            labs = st.labels() if args.labels == "store" else _table(args.labels)
        fm = _table(args.failure_modes) if args.failure_modes else None
        ds = _table(args.dataset) if args.dataset else None
        name = args.dataset_name or (Path(args.dataset).stem if args.dataset else None)
        r = push(args.target, results=res, labels=labs, failure_modes=fm, dataset=ds, dataset_name=name,
                 project=args.project, url=args.url, store=st, concurrency=args.concurrency,
                 dry_run=args.dry_run, progress=not args.no_progress)
    except PullError as e:
        rep = getattr(e, "report", None)
        print(f"error: {e}")
        if rep is not None and args.json:
            print(json.dumps(rep.to_dict(), indent=2, default=str))
        return 1
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}")
        return 1
    if args.json:
        d = r.to_dict()
        if args.dry_run:
            d["planned"] = r.planned
        print(json.dumps(d, indent=2, default=str))
    else:
        print(str(r))
        for x in r.unmapped[:10]:
            print(f"  not sent: {x['name']} on trace {x['trace_id']}: {x['reason']}")
        if args.dry_run:
            for q in r.planned[:20]:
                print(f"  would {q['method']} {q['path']}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from llmops_nb.connectors import PullError, pull

    filters: dict[str, Any] = {}
    for f in args.filter:
        if "=" not in f:
            print(f"--filter {f!r} is not KEY=VALUE")
            return 2
        k, v = f.split("=", 1)
        try:
            filters[k] = json.loads(v)
        except ValueError:
            filters[k] = v
    try:
        r = pull(args.source, project=args.project, url=args.url, since=args.since, until=args.until,
                 filters=filters or None, store=args.store, concurrency=args.concurrency,
                 page_size=args.page_size, full=args.full, progress=not args.no_progress)
    except (PullError, ValueError) as e:
        print(f"error: {e}")
        return 1
    print(json.dumps(r.to_dict(), indent=2) if args.json else str(r))
    return 0
