"""The ``llmops-nb`` command line. Each subcommand lives in its area's ``_cli`` module, which
defines ``add_parser(subparsers)``; the modules are imported only when needed.

Example:
    $ llmops-nb load traces.json --store .llmops
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["main", "run"]

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


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what sys.exit("message") prints
    return 1


def run() -> NoReturn:
    """The ``llmops-nb`` console script: :func:`main`, then Python's own shutdown steps (threads
    joined, ``atexit`` handlers, output and logs flushed), then the process ends with
    ``os._exit`` before native libraries tear down their thread pools.

    The datasets commands load pyarrow and deltalake; at interpreter exit a native thread of
    theirs is sometimes destroyed while still joinable, and the process aborts with
    ``terminate called without an active exception`` (exit 134) after printing its correct
    output (apache/arrow#34314). Ending the process once everything Python-side is done keeps the
    exit code the command returned. ``main`` stays importable for notebooks and tests.

    Example:
        >>> import llmops_nb.cli as cli
        >>> callable(cli.run)  # the entry point in pyproject.toml: llmops-nb = "llmops_nb.cli:run"
        True
    """
    try:
        code = main()
    except SystemExit as e:  # argparse's --help / usage errors, sys.exit inside a command
        code = _exit_code(e.code)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        threading._shutdown()  # type: ignore[attr-defined]  # join non-daemon threads, as the interpreter does first
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = code or 120  # output lost (a closed pipe): Python's own exit code for it
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
