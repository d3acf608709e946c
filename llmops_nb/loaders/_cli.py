"""``llmops-nb load`` and ``llmops-nb formats``."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("load", help="load trace files into the store")
    p.add_argument("sources", nargs="+", help="files, directories or globs")
    p.add_argument("--format", default=None, help="format name (see `llmops-nb formats`); detected when omitted")
    p.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    p.add_argument("--errors", choices=["raise", "skip"], default="raise")
    p.set_defaults(func=_load)
    f = sub.add_parser("formats", help="list the supported trace formats")
    f.set_defaults(func=_formats)


def _load(args: argparse.Namespace) -> int:
    from llmops_nb.loaders import read_traces
    from llmops_nb.store import Store

    out = read_traces(args.sources, format=args.format, errors=args.errors)
    spans, report = out if isinstance(out, tuple) else (out, None)
    store = Store(args.store)
    n = store.add_spans(spans)
    print(f"read {len(spans):,} spans in {spans['trace_id'].nunique():,} traces; {n:,} new rows in {store.path}")
    if report is not None and len(report):
        print(f"skipped or repaired {len(report)} records:")
        print(report.to_string(index=False))
    return 0


def _formats(args: argparse.Namespace) -> int:
    from llmops_nb.loaders import formats

    print(formats().to_string(index=False))
    return 0
