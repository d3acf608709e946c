"""Shared test settings: offline environment, fixture paths, small helpers."""

from __future__ import annotations

import logging
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PHOENIX_TELEMETRY_ENABLED", "false")

from fixture_paths import FIXTURES, ROOT, fixture_dir  # noqa: E402, F401  (kept for old imports)


@pytest.fixture
def store(tmp_path):
    from llmops_nb import Store

    return Store(tmp_path / "store")


@pytest.fixture(autouse=True)
def _restore_log_levels():
    """A test that turns a logger to DEBUG (litellm's, or the root) cannot leave it so: later tests
    would print litellm's debug log into the run's output."""
    loggers = [logging.getLogger(), logging.getLogger("LiteLLM"), logging.getLogger("LiteLLM Proxy"),
               logging.getLogger("LiteLLM Router")]
    levels = [lg.level for lg in loggers]
    yield
    for lg, level in zip(loggers, levels):
        if lg.level != level:
            lg.setLevel(level)
