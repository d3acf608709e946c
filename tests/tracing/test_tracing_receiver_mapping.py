"""The receiver maps protobuf bodies column by column in the background: the table it stores is
the table the span-by-span mapping gives, cell for cell (real fixtures as protobuf, generated
spans, the receiver benchmark's spans, invalid and all-zero ids), and the spans it counted when
it answered are exactly the spans it stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmops_nb.loaders import otlp
from llmops_nb.tracing._collector import _check_proto, _map_records, _parse_table

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fixture_docs() -> list[Any]:
    """Every OTLP/JSON export among the shared fixtures and the committed producer traces."""
    docs = []
    for d in (FIXTURES, ROOT / "tests" / "loaders" / "data" / "producers"):
        for p in sorted(d.rglob("*.json*")) if d.exists() else []:
            data = p.read_bytes()
            for line in [data] if p.suffix == ".json" else data.splitlines():
                try:
                    doc = orjson.loads(line)
                except ValueError:
                    continue
                if otlp.is_otlp_json(doc):
                    docs.append(doc)
    return docs


def _bodies() -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    load = _module("bench_load")
    converted = [r for r in (load.to_proto(d, strict=False) for d in _fixture_docs()) if r is not None]
    bodies = [r.SerializeToString() for r in converted]
    bodies += [load.to_proto(d).SerializeToString() for d in load.documents(600, seed=3)]
    recv = _module("bench_receiver")
    bodies += [body for body, _ in recv._templates(2, 64, seed=1)]
    odd = ExportTraceServiceRequest()
    ss = odd.resource_spans.add().scope_spans.add()
    ss.spans.add(name="ok", trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), start_time_unix_nano=1,
                 end_time_unix_nano=2_000_001)
    ss.spans.add(name="no ids")
    ss.spans.add(name="short trace id", trace_id=b"\x01" * 8, span_id=b"\x02" * 8)
    ss.spans.add(name="zero ids", trace_id=bytes(16), span_id=bytes(8), parent_span_id=bytes(8))
    ss.spans.add(name="error", trace_id=bytes(range(1, 17)), span_id=b"\x09" * 8, parent_span_id=bytes(range(1, 9)),
                 status={"code": 2, "message": "boom"}, kind=3)
    bodies.append(odd.SerializeToString())
    return bodies


def test_background_mapping_equals_the_span_by_span_mapping():
    if not FIXTURES.exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    bodies = _bodies()
    n_ref = 0
    for body in bodies:
        ref, rejected, _, _ = _parse_table("proto", "identity", body, 2**30)
        table, rej, why, bad = _map_records([("proto", "identity", body, len(body))], 2**30)
        counted, counted_rejected, _, _ = _check_proto("identity", body, 2**30)
        assert bad == 0 and rej == rejected == counted_rejected
        assert (rej == 0) == (why is None)
        if ref is None:
            assert table is None and counted == 0
            continue
        assert table.equals(ref), body[:80]
        assert counted == table.num_rows  # what the 200 acknowledged is what is stored
        n_ref += ref.num_rows
    assert n_ref > 500
    # many bodies mapped together (what a worker process gets) give the same rows in order
    import pyarrow as pa

    together = _map_records([("proto", "identity", b, len(b)) for b in bodies], 2**30)[0]
    apart = [t for t in (_parse_table("proto", "identity", b, 2**30)[0] for b in bodies) if t is not None]
    assert together.equals(pa.concat_tables(apart))
