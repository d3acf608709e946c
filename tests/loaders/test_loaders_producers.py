"""Traces written by real producers (``make conformance --save``, committed under
``data/producers/<producer>/``) read as the producer made them: every span, its ids, parent,
kind, times, status and error, and the model calls' model, tokens, messages and tool calls.

This is the fast half of the conformance matrix: no producer SDK is needed to run it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import llmops_nb as lo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "conformance"))
from _compare import compare  # noqa: E402
from run import readings  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "producers"
CASES = [(d.name, name) for d in sorted(DATA.iterdir()) if d.is_dir() for name, _ in readings(d)] if DATA.exists() else []


def _version(producer: str) -> str:
    truth = json.loads((DATA / producer / "truth.json").read_text())
    main = truth.get("main") or next(iter(truth["versions"]))
    return f"{main}=={truth['versions'][main]}"


# the test ids name the producer version that wrote each payload (pytest -v shows them)
@pytest.mark.parametrize(("producer", "payload"), CASES, ids=[f"{p}[{_version(p)}]-{n}" for p, n in CASES])
def test_a_real_producer_payload_reads_as_the_producer_made_it(producer, payload):
    folder = DATA / producer
    truth = json.loads((folder / "truth.json").read_text())
    exchanges = json.loads((folder / "exchanges.json").read_text())
    files = dict(readings(folder))[payload]
    frame = lo.read_traces([str(f) for f in files])
    c = compare(truth, exchanges, frame, payload)
    assert c.diffs == [], "\n".join(f"{d[0]} @ {d[1]}: expected {d[2]!r}, read {d[3]!r}" for d in c.diffs)
    assert c.read == c.produced > 0
    assert {"trace_id", "parent", "times", "status"} <= c.checked


def test_every_committed_producer_has_model_calls_and_an_error():
    assert len({p for p, _ in CASES}) >= 4
    for d in sorted(DATA.iterdir()):
        truth = json.loads((d / "truth.json").read_text())
        exchanges = json.loads((d / "exchanges.json").read_text())
        # an error the model call met on the wire, or (Inspect's mock model: no wire) a tool call's error
        assert any("error" in e["response"] for e in exchanges) or truth["errors"], d.name
        assert sum("error" not in e["response"] for e in exchanges) >= 2, d.name
        assert truth["versions"], d.name
