"""The ``llmops-nb`` command line. Each subcommand lives in its area's ``_cli`` module, which
defines ``add_parser(subparsers)``; the modules are imported only when needed.

Example:
    $ llmops-nb load traces.json --store .llmops
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# subcommand -> module with add_parser(subparsers) that sets func=callable(args) -> int
COMMANDS: dict[str, str] = {
    "load": "llmops_nb.loaders._cli",
    "formats": "llmops_nb.loaders._cli",
    "demo": "llmops_nb.demo._cli",
    "collect": "llmops_nb.tracing._cli",
    "evaluate": "llmops_nb.evals._cli",
    "gate": "llmops_nb.experiments._cli",
    "datasets": "llmops_nb.datasets._cli",
    "pull": "llmops_nb.connectors._cli",
    "push": "llmops_nb.connectors._cli",
    "report": "llmops_nb.report._cli",
    "experiment": "llmops_nb.experiments._cli",
    "monitor": "llmops_nb.monitor._cli",
}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmops-nb", description="The notebook workbench for LLM quality.")
    p.add_argument("--version", action="version", version=f"llmops-nb {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    done: set[str] = set()
    for cmd, modname in COMMANDS.items():
        if only is not None and cmd != only:
            continue
        if modname in done:
            continue
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        mod.add_parser(sub)
        done.add(modname)
    return p


def _version() -> str:
    from llmops_nb import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Example:
        >>> main(["gate", "--rule", "correctness >= 0.9"])  # no results given: usage error, exit code 2
        2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    p = _parser(first if first in COMMANDS else None)
    args = p.parse_args(argv)
    if not getattr(args, "func", None):
        p.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
