"""Paths of the shared real-data fixtures, importable by any test (``from fixture_paths import
fixture_dir``): a module with its own name, unlike ``conftest``, which resolves to whichever
conftest pytest imported last."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    """The path of a shared fixture folder, or skip the test with the reason."""
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"shared fixture folder {p} is absent")
    return p
