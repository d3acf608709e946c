"""``llmops-nb datasets list | history NAME | diff NAME A B | export NAME ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("datasets", help="versioned test sets: list, history, diff, export")
    p.add_argument("--store", "--storage", dest="storage", default=None,
                   help="dataset folder or URL (s3://bucket/prefix); default $LLMOPS_NB_HOME/datasets or ./.llmops/datasets")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    ls = dsub.add_parser("list", help="list the datasets")
    ls.set_defaults(func=_clear_errors(_list))
    h = dsub.add_parser("history", help="the versions of a dataset, newest first")
    h.add_argument("name")
    h.set_defaults(func=_clear_errors(_history))
    d = dsub.add_parser("diff", help="added, removed and changed examples between two versions")
    d.add_argument("name")
    d.add_argument("a", help="version number or tag")
    d.add_argument("b", nargs="?", default=None, help="version number or tag (default: latest)")
    d.add_argument("--show", type=int, default=10, help="how many changed examples to list")
    d.set_defaults(func=_clear_errors(_diff))
    e = dsub.add_parser("export", help="write a version as jsonl, parquet, csv, openai_chat or hf")
    e.add_argument("name")
    e.add_argument("--version", default=None, help="version number or tag (default: latest)")
    e.add_argument("--format", required=True, help="jsonl, parquet, csv, openai_chat or hf")
    e.add_argument("--out", required=True, help="output file (folder for hf)")
    e.add_argument("--split", default=None)
    e.add_argument("--no-redact", action="store_true", help="turn PII redaction off (on by default)")
    e.set_defaults(func=_clear_errors(_export))
    t = dsub.add_parser("tag", help="point a tag at a version")
    t.add_argument("name")
    t.add_argument("version")
    t.add_argument("tag")
    t.set_defaults(func=_clear_errors(_tag))
    c = dsub.add_parser("cleanup", help="delete data files no version references (leftovers of killed or retried saves)")
    c.add_argument("name")
    c.add_argument("--older-than-hours", type=float, default=1.0,
                   help="on object storage (no lock), keep orphans younger than this; local folders use the lock")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_clear_errors(_cleanup))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _clear_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A dataset error (unknown dataset, version or tag; bad input) is one line on stderr naming
    the value, the valid ones and the fix, and exit code 2: never a traceback."""

    def run(args: argparse.Namespace) -> int:
        from llmops_nb.datasets import DatasetError

        try:
            return func(args)
        except DatasetError as e:
            print(f"llmops-nb datasets {args.datasets_command}: error: {e}", file=sys.stderr)
            return 2

    return run


def _storage(args: argparse.Namespace) -> Any:
    return args.storage


def _list(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import list_datasets

    df = list_datasets(store=_storage(args))
    if not len(df):
        print("no datasets")
        return 0
    df = df.assign(updated=df["updated"].map(lambda t: f"{t:%Y-%m-%d %H:%M}"))
    print(df[["name", "version", "rows", "versions", "updated", "author", "tags", "message"]].to_string(index=False))
    return 0


def _history(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import history

    df = history(args.name, store=_storage(args))
    df = df.assign(timestamp=df["timestamp"].map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"))
    print(df[["version", "timestamp", "rows", "author", "tags", "schema_version", "message"]].to_string(index=False))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import diff

    d = diff(args.name, args.a, args.b, store=_storage(args))
    print(d.summary())
    for label, frame in (("added", d.added), ("removed", d.removed)):
        if len(frame):
            ids = frame["example_id"].head(args.show).tolist()
            print(f"{label}: {', '.join(ids)}{' ...' if len(frame) > args.show else ''}")
    if len(d.changed):
        print("changed:")
        for rec in d.changed.head(args.show).itertuples(index=False):
            print(f"  {rec.example_id}: {', '.join(rec.changed_columns)}")
        if len(d.changed) > args.show:
            print(f"  ... {len(d.changed) - args.show} more")
    return 0


def _export(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import export

    export(args.name, args.format, args.out, version=args.version, split=args.split,
           redact=not args.no_redact, store=_storage(args))
    return 0


def _tag(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import tag

    tag(args.name, args.version, args.tag, store=_storage(args))
    print(f"{args.name}: {args.tag} -> {args.version}")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from llmops_nb.datasets import cleanup

    out = cleanup(args.name, older_than_hours=args.older_than_hours, dry_run=args.dry_run, store=_storage(args))
    n = int(out["deleted"].sum()) if len(out) else 0
    size = int(out.loc[out["deleted"], "bytes"].sum()) if len(out) else 0
    print(f"{args.name}: {len(out)} unreferenced files, {n} deleted ({size / 1e6:.1f} MB)"
          + (" (dry run)" if args.dry_run else ""))
    return 0
