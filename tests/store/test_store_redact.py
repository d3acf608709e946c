"""PII redaction at ingest: with ``Store(redact="pii")`` raw values never reach the store's files,
whichever way spans arrive (read_traces + add_spans, the OTLP collector and its write-ahead log,
capture). Each check scans every file under the store (Parquet decoded, everything else as raw
bytes) and first proves on an unredacted twin that the same scan finds the values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

import llmops_nb as lo
from llmops_nb.demo import generate, write_otlp
from llmops_nb.pii import Redaction, find_pii

ROOT = Path(__file__).resolve().parents[2]


def _data():
    return generate(120, seed=4, rates={"pii_echo": (1.0, 0.5)})


def _raw_values(spans) -> set[str]:
    vals: set[str] = set()
    for c in ("input_text", "output_text"):
        for t in spans[c].dropna():
            vals |= {m.text for m in find_pii(t) if len(m.text) >= 8}
    assert len(vals) >= 10, vals
    return vals


def _scan(folder: Path, values: set[str]) -> set[str]:
    """Which of ``values`` occur in any file under ``folder``."""
    hits: set[str] = set()
    for f in folder.rglob("*"):
        if not f.is_file():
            continue
        blobs = [f.read_bytes().decode("latin-1")]
        if f.suffix == ".parquet":
            blobs.append(json.dumps(pq.read_table(f).to_pylist(), default=str, ensure_ascii=False))
        for b in blobs:
            hits |= {v for v in values if v in b}
    return hits


def test_add_spans_redacts_before_writing(tmp_path):
    data = _data()
    values = _raw_values(data.spans)
    raw, red = lo.Store(tmp_path / "raw"), lo.Store(tmp_path / "red", redact="pii")
    raw.add_spans(data.spans)
    red.add_spans(data.spans)
    assert _scan(raw.path, values) == values  # the scan sees them when they are there
    assert _scan(red.path, values) == set()
    got = lo.Store(tmp_path / "red").spans()  # reopened: the setting is kept in store.json
    assert len(got) == len(data.spans)
    assert lo.Store(tmp_path / "red").redaction.mode == "pii"
    assert got["input_text"].str.contains(r"\[(?:EMAIL|PHONE|CREDIT_CARD)\]").sum() > 0
    # ids, kinds and times are untouched
    assert got.set_index("span_id").loc[data.spans["span_id"], "trace_id"].tolist() == data.spans["trace_id"].tolist()
    # and later writers of that store redact too
    lo.Store(tmp_path / "red").add_spans(generate(30, seed=9, rates={"pii_echo": (1.0, 1.0)}).spans)
    assert _scan(red.path, values | _raw_values(generate(30, seed=9, rates={"pii_echo": (1.0, 1.0)}).spans)) == set()
    with pytest.raises(ValueError, match="cannot turn that off"):
        lo.Store(tmp_path / "red", redact=False).add_spans(data.spans)


def test_bad_redact_value_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="'pii', 'pii\\+names'"):
        lo.Store(tmp_path, redact="names")


def test_capture_spans_are_redacted(tmp_path):
    st = lo.Store(tmp_path / "s", redact="pii")
    with lo.capture(st), lo.span("chain", name="support") as s:
        s.set_input("my card is 4111 1111 1111 1111, mail ann.lee@corp.io")
        s.set_output("we will write to ann.lee@corp.io")
    spans = st.spans()
    assert len(spans) == 1 and spans["input_text"].iloc[0] == "my card is [CREDIT_CARD], mail [EMAIL]"
    assert _scan(st.path, {"4111 1111 1111 1111", "ann.lee@corp.io"}) == set()


_DYING_COLLECTOR = textwrap.dedent("""
    import sys, time
    import llmops_nb as lo
    def refuse(self, *a, **k):
        raise OSError("disk full (test)")
    lo.Store.add = refuse            # the store refuses: accepted spans stay in the write-ahead log
    col = lo.tracing.Collector(lo.Store(sys.argv[1]), port=0).start()
    print(col.endpoint, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("redact", [None, "pii"])
def test_collector_log_and_store_hold_no_raw_pii(tmp_path, redact):
    data = _data()
    values = _raw_values(data.spans)
    files = write_otlp(data, tmp_path / "otlp", spans_per_export=100_000)
    lines = [ln for f in files for ln in f.read_bytes().splitlines() if ln.strip()]
    store = tmp_path / "store"
    lo.Store(store, redact=redact).ensure()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", _DYING_COLLECTOR, str(store)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        endpoint = p.stdout.readline().strip()
        for ln in lines:
            for _ in range(50):  # the first body is logged and acknowledged; then 503 until the store works
                r = httpx.post(endpoint, content=ln, headers={"Content-Type": "application/json"}, timeout=120)
                if r.status_code == 200:
                    break
                time.sleep(0.1)
            else:
                break
        time.sleep(0.5)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    wal = list((store / "collector" / "wal").rglob("*.wal"))
    assert wal and sum(f.stat().st_size for f in wal) > 0
    found = _scan(store, values)
    assert (found == set()) if redact else found  # raw values in the log only when redaction is off
    # a new receiver replays the log into the store: the spans arrive, still without raw values
    with lo.tracing.Collector(lo.Store(store), port=0) as col:
        assert col.flush(60)
    got = lo.Store(store).spans()
    assert len(got) > 0 and set(got["trace_id"]) <= set(data.spans["trace_id"])
    if redact:
        assert _scan(store, values) == set()
        assert got["input_text"].str.contains(r"\[(?:EMAIL|PHONE|CREDIT_CARD)\]").sum() > 0


def test_names_and_addresses_with_presidio(tmp_path):
    pytest.importorskip("presidio_analyzer", reason="the 'pii' extra (presidio-analyzer) is not installed here")
    try:
        r = Redaction.of("pii+names")
    except ImportError as e:
        pytest.skip(f"presidio is installed but its spaCy model is not: {e}")
    st = lo.Store(tmp_path / "s", redact=r)
    spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm",
                             "input_text": "Hi, I am Maria Gonzalez from Barcelona, mail maria@corp.io"}], format="records")
    st.add_spans(spans)
    text = st.spans()["input_text"].iloc[0]
    assert "Maria Gonzalez" not in text and "maria@corp.io" not in text and "[PERSON]" in text
    assert _scan(st.path, {"Maria Gonzalez", "maria@corp.io"}) == set()
