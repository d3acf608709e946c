"""``llmops-nb monitor run --config monitor.yaml [--every 10m]``: online evaluation passes."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("monitor", help="online evaluation on a schedule (one pass, or --every 10m)",
                       description="Pull new traces, sample, evaluate under a budget, check SLOs, notify, measure drift.")
    msub = p.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND")
    r = msub.add_parser("run", help="one monitor pass (for cron, CI schedules, Airflow, Kubernetes CronJobs)")
    r.add_argument("--config", required=True, help="monitor.yaml (see README 'In production')")
    r.add_argument("--store", default=None, help="store folder (default: the config's store, $LLMOPS_NB_HOME or ./.llmops)")
    r.add_argument("--every", default=None, help="loop: one pass every INTERVAL (e.g. 10m, 1h) until stopped")
    r.set_defaults(func=_run)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from llmops_nb.monitor._online import load_config, run_forever, run_monitor

    cfg = load_config(args.config)
    if args.every:
        run_forever(cfg, args.every, store=args.store)
        return 0
    run = run_monitor(cfg, store=args.store)
    print(run)
    return 1 if run.undelivered else 0
