"""``llmops-nb pull SOURCE``: pull what is new in a backend into the store."""

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
