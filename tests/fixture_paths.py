"""Helpers importable by any test (``from fixture_paths import fixture_dir``): the paths of the
shared real-data fixtures, the benchmark scripts as modules, a free local port. A module with its
own name, unlike ``conftest``, which resolves to whichever conftest pytest imported last."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    """The path of a shared fixture folder, or skip the test with the reason."""
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"shared fixture folder {p} is absent")
    return p


def bench_module(name: str) -> Any:
    """A script of ``benchmarks/`` imported as a module (``bench_module("bench_load")``: its span
    generator and OTLP/JSON -> protobuf conversion), loaded once per test session."""
    if name not in _BENCH:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _BENCH[name] = mod
    return _BENCH[name]


_BENCH: dict[str, Any] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a local server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
