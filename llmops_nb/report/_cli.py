"""``llmops-nb report NOTEBOOK -p name value ... -o report.html``."""

from __future__ import annotations

import argparse
from typing import Any


def _value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="execute a notebook with parameters and write an offline HTML report")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="a papermill parameter (the value is parsed as YAML: 500, true, 'text')")
    p.add_argument("-o", "--output", default=None, help="the HTML file (default: NOTEBOOK with .html)")
    p.add_argument("--kernel", default=None, help="kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--keep-executed", action="store_true",
                   help="also keep the executed notebook beside the HTML (REPORT.executed.ipynb)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from llmops_nb.report import render_report

    params = {k: _value(v) for k, v in args.parameter}
    rep = render_report(args.notebook, args.output, parameters=params, kernel_name=args.kernel, timeout=args.timeout,
                        keep_executed=args.keep_executed)
    print(f"report: {rep}")
    return 0
