"""The monitor's write-back step: traces pulled from a backend (the recorded-API fake Langfuse
of tests/connectors/connector_fakes.py, which validates every body against Langfuse's published
score schema) are evaluated by a monitor pass configured with ``push:``; the scores reach the
server on the traces they came from, and a second pass pushes only the new rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import llmops_nb as lo
from llmops_nb.monitor import run_monitor


def _fakes():
    """tests/connectors/connector_fakes.py loaded by path under its own name (``from conftest import``
    would resolve to whichever conftest pytest imported first)."""
    path = Path(__file__).resolve().parents[1] / "connectors" / "connector_fakes.py"
    spec = importlib.util.spec_from_file_location("_llmops_nb_connector_fakes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def langfuse(monkeypatch):
    fakes = _fakes()
    for k, v in fakes.SECRETS.items():
        monkeypatch.setenv(k, v)
    fb = fakes.FakeBackends().start()
    fb.lf.sort(key=lambda t: t["timestamp"])  # the first ones visible are the oldest: new traffic comes later
    yield fb
    fb.stop()


def _scores(fb) -> dict[str, float]:
    return {t["id"]: s["value"] for t in fb.lf for s in t["scores"] if s["name"] == "refusal"}


def _posts(fb) -> list[dict]:
    return [body for _, path, body in fb.writes if path == "/api/public/scores"]


def _evaluated(st, run_id: str) -> dict[str, float]:
    res = st.read("results", "run_id = ?", [run_id])
    res = res[res["value"].notna()]
    return {t: float(v) for t, v in zip(res["trace_id"], res["value"])}


def test_monitor_pushes_new_scores_back_once(langfuse, tmp_path):
    fb = langfuse
    st = lo.Store(tmp_path / "store")
    first = len(fb.lf) // 2
    fb.visible_lf = first
    cfg = {"name": "prod", "source": {"connector": "langfuse", "url": fb.url}, "evaluators": ["refusal"],
           "lateness": "3650D", "push": {"target": "langfuse", "url": fb.url}}

    run1 = run_monitor(cfg, store=st)
    assert run1.considered == st.traces()["trace_id"].nunique() > 0
    done1 = _evaluated(st, run1.run_id)
    assert done1, "the first pass evaluated nothing: the test would prove nothing"
    assert fb.schema_errors == []
    assert run1.pushed.created == len(done1) and len(_posts(fb)) == len(done1)
    assert _scores(fb) == done1  # every score on the trace it was pulled from, with its value

    # new traffic arrives: the second pass pulls, evaluates and pushes only the new rows
    fb.visible_lf = len(fb.lf)
    run2 = run_monitor(cfg, store=st)
    done2 = _evaluated(st, run2.run_id)
    assert done2 and not set(done2) & set(done1)
    assert run2.considered == st.traces()["trace_id"].nunique() - run1.considered
    assert fb.schema_errors == []
    assert run2.pushed.created == len(done2) and run2.pushed.updated == 0
    posts = _posts(fb)
    assert len(posts) == len(done1) + len(done2)
    assert {b["traceId"] for b in posts[len(done1):]} == set(done2)
    assert _scores(fb) == {**done1, **done2}

    # nothing new: a third pass sends nothing
    run3 = run_monitor(cfg, store=st)
    assert run3.considered == 0 and len(_posts(fb)) == len(done1) + len(done2)
    assert fb.schema_errors == []
