"""Shared test settings: offline environment, fixture paths, small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PHOENIX_TELEMETRY_ENABLED", "false")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    """The path of a shared fixture folder, or skip the test with the reason."""
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"shared fixture folder {p} is absent")
    return p


@pytest.fixture
def store(tmp_path):
    from llmops_nb import Store

    return Store(tmp_path / "store")
