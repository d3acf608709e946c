"""The OTLP/HTTP receiver: real OTLP exports over loopback read back equal; JSON and gzip bodies;
partial success; malformed bodies refused with nothing stored while the server keeps running;
backpressure with Retry-After; shutdown writes everything; the ``collect`` command."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading

import httpx
import orjson
import pytest

import llmops_nb as lo
from llmops_nb.tracing import Collector

COMPARED = ["trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "latency_ms",
            "status", "error_message", "model", "provider", "input_messages", "output_messages", "input_text",
            "output_text", "documents", "tool_name", "tool_arguments", "prompt_tokens", "completion_tokens",
            "total_tokens", "cost_usd", "session_id", "user_id", "tags", "metadata"]


def _app_spans(provider) -> None:
    """A small instrumented app: an agent with a retriever, an LLM call with a tool call, an error."""
    from opentelemetry.trace import Status, StatusCode

    tr = provider.get_tracer("my-app")
    with tr.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT", "input.value": "where is A17?",
                                                       "session.id": "s-1", "user.id": "u-1", "tag.tags": ["beta"],
                                                       "metadata": '{"tenant": "acme"}'}):
        with tr.start_as_current_span("search", attributes={
                "openinference.span.kind": "RETRIEVER", "input.value": "A17",
                "retrieval.documents.0.document.id": "kb-1", "retrieval.documents.0.document.content": "Ships in 2 days",
                "retrieval.documents.0.document.score": 0.8}):
            pass
        with tr.start_as_current_span("llm", attributes={
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
                "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "where is A17?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.id": "c1",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"id": "A17"}',
                "llm.token_count.prompt": 12, "llm.token_count.completion": 7, "llm.cost.total": 0.00042}):
            pass
        with tr.start_as_current_span("lookup", attributes={"openinference.span.kind": "TOOL", "tool.name": "lookup",
                                                            "input.value": '{"id": "A17"}'}) as sp:
            sp.set_status(Status(StatusCode.ERROR, "order service timed out"))


def _sdk_rows(spans) -> list[dict]:
    from llmops_nb.schema import SPANS, conform
    from llmops_nb.tracing._otel import spans_to_rows

    return conform(spans_to_rows(spans), SPANS).sort_values("span_id").to_dict("records")


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_real_otlp_exporter_round_trip(store, compression):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with Collector(store, port=0) as col:
        mem = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource({"service.name": "shop"}))
        provider.add_span_processor(SimpleSpanProcessor(mem))
        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=col.endpoint, compression=comp)))
        for _ in range(3):
            _app_spans(provider)
        assert provider.force_flush(10_000)
        provider.shutdown()
        assert col.flush(30)
        assert col.stats.accepted == 12 and col.stats.rejected == 0 and col.stats.malformed_requests == 0
    got = store.spans().sort_values("span_id").to_dict("records")
    want = _sdk_rows(mem.get_finished_spans())
    assert len(got) == len(want) == 12
    for g, w in zip(got, want):
        assert g["source_format"] == "otlp_proto"
        for c in COMPARED:
            gv, wv = g[c], w[c]
            if isinstance(wv, float) and wv != wv:
                assert gv != gv, c
            else:
                assert gv == wv, (c, gv, wv)
    llm = store.spans(kind="llm").iloc[0]
    assert llm["output_messages"][0]["tool_calls"][0]["name"] == "lookup" and llm["cost_usd"] == 0.00042
    assert store.spans(status="error").iloc[0]["error_message"] == "order service timed out"
    assert store.spans(kind="retriever").iloc[0]["documents"][0]["id"] == "kb-1"


def _request_json(n: int = 3, bad_ids: int = 0) -> dict:
    spans = []
    for i in range(n):
        spans.append({"traceId": "5b8efff798038103d269b633813fc60c", "spanId": f"{i + 1:016x}", "name": f"op{i}",
                      "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
                      "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
                                     {"key": "input.value", "value": {"stringValue": f"q{i}"}}]})
    for i in range(bad_ids):
        spans.append({"traceId": "xyz", "spanId": "", "name": f"bad{i}"})
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-app"}}]},
                               "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}]}]}


def test_json_and_gzip_bodies_and_partial_success(store):
    with Collector(store, port=0) as col, httpx.Client() as http:
        r = http.post(col.endpoint, content=orjson.dumps(_request_json(2)), headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json") and r.json() == {}
        body = gzip.compress(orjson.dumps(_request_json(3, bad_ids=2)))
        r = http.post(col.endpoint, content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert r.status_code == 200
        ps = r.json()["partialSuccess"]
        assert int(ps["rejectedSpans"]) == 2 and "invalid trace_id" in ps["errorMessage"]
        # protobuf partial success answers in protobuf
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        msg = ExportTraceServiceRequest()
        ss = msg.resource_spans.add().scope_spans.add()
        good = ss.spans.add(trace_id=bytes.fromhex("ab" * 16), span_id=bytes.fromhex("0000000000000009"), name="pb")
        good.start_time_unix_nano, good.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_100_000_000
        ss.spans.add(name="no ids")
        r = http.post(col.endpoint, content=msg.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
        assert r.headers["content-type"].startswith("application/x-protobuf")
        resp = ExportTraceServiceResponse.FromString(r.content)
        assert r.status_code == 200 and resp.partial_success.rejected_spans == 1
        col.flush()
    spans = store.spans()
    # op0..op2 of one trace (the same ids sent twice are stored once) and the protobuf span
    assert len(spans) == 4 and sorted(spans["source_format"]) == ["otlp_json"] * 3 + ["otlp_proto"]
    assert spans[spans["source_format"] == "otlp_proto"].iloc[0]["latency_ms"] == 100.0
    row = spans.sort_values("span_id").iloc[0]
    assert row["kind"] == "chain" and row["input_text"] == "q0" and row["latency_ms"] == 250.0
    assert row["metadata"]["service.name"] == "js-app"


def test_malformed_bodies_refused_without_harm(store):
    from google.rpc.status_pb2 import Status

    bodies = [
        ("application/x-protobuf", None, b"\xff\xfe not protobuf at all"),
        ("application/json", None, b"{not json"),
        ("application/json", None, b"[1, 2, 3]"),
        ("application/json", None, b'{"resourceSpans": 5}'),
        ("application/json", None, b'{"resourceSpans": [{"scopeSpans": [{"spans": [1, 2]}]}]}'),
        ("application/json", "gzip", b"this is not gzip"),
    ]
    with Collector(store, port=0, max_body_bytes=64 * 1024) as col, httpx.Client() as http:
        ok = http.post(col.endpoint, content=orjson.dumps(_request_json(2)), headers={"Content-Type": "application/json"})
        assert ok.status_code == 200
        col.flush()
        for ctype, enc, body in bodies:
            headers = {"Content-Type": ctype, **({"Content-Encoding": enc} if enc else {})}
            r = http.post(col.endpoint, content=body, headers=headers)
            assert r.status_code == 400, (body, r.text)
            status = Status.FromString(r.content) if ctype.endswith("protobuf") else Status(**r.json())
            assert status.code == 3 and status.message
        # a malformed span in the middle of a body: nothing of that body is stored
        mixed = _request_json(3)
        mixed["resourceSpans"][0]["scopeSpans"][0]["spans"].insert(1, "not a span")
        assert http.post(col.endpoint, content=orjson.dumps(mixed), headers={"Content-Type": "application/json"}).status_code == 400
        # unsupported type or encoding: 415; too large, also once decompressed (a gzip bomb): 413
        assert http.post(col.endpoint, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
        assert http.post(col.endpoint, content=b"{}", headers={"Content-Type": "application/json",
                                                               "Content-Encoding": "br"}).status_code == 415
        assert http.post(col.endpoint, content=b" " * (65 * 1024), headers={"Content-Type": "application/json"}).status_code == 413
        bomb = gzip.compress(b" " * (10 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        assert http.post(col.endpoint, content=bomb, headers={"Content-Type": "application/json",
                                                              "Content-Encoding": "gzip"}).status_code == 413
        # the server is still up and stores the next good body
        doc = _request_json(1)
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "00000000000000ff"
        assert http.post(col.endpoint, content=orjson.dumps(doc), headers={"Content-Type": "application/json"}).status_code == 200
        assert http.get(col.url + "/health").json()["status"] == "ok"
        col.flush()
        assert col.stats.malformed_requests == 7 and col.stats.too_large_requests == 2
    spans = store.spans()
    assert sorted(spans["span_id"]) == ["0000000000000001", "0000000000000002", "00000000000000ff"]


class _SlowStore:
    """A store whose writes wait for a signal, to fill the collector's queue."""

    def __init__(self, store) -> None:
        self.store = store
        self.path = store.path  # the receiver keeps its write-ahead log in the store's folder
        self.go = threading.Event()

    def add(self, name, data):
        self.go.wait(30)
        return self.store.add(name, data)


def test_backpressure_503_with_retry_after_then_recovers(store):
    slow = _SlowStore(store)
    with Collector(slow, port=0, max_queue_spans=5, flush_interval_s=0.05) as col, httpx.Client() as http:
        def send(first_id: int) -> httpx.Response:
            doc = _request_json(4)
            for k, sp in enumerate(doc["resourceSpans"][0]["scopeSpans"][0]["spans"]):
                sp["spanId"] = f"{first_id + k:016x}"
            return http.post(col.endpoint, content=orjson.dumps(doc), headers={"Content-Type": "application/json"})

        assert send(1).status_code == 200  # 4 spans queued, the writer is blocked
        busy = send(100)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1" and busy.json()["code"] == 14
        assert col.stats.queued == 4 and col.stats.busy_requests == 1
        slow.go.set()
        assert col.flush(10)
        assert send(100).status_code == 200  # the retry succeeds
    assert len(store.spans()) == 8


def test_stop_writes_everything_queued(store):
    col = Collector(store, port=0, flush_interval_s=60, batch_spans=1_000_000).start()
    with httpx.Client() as http:
        for t in range(20):
            doc = _request_json(5)
            for sp in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
                sp["traceId"] = f"{t + 1:032x}"
            assert http.post(col.endpoint, content=orjson.dumps(doc), headers={"Content-Type": "application/json"}).status_code == 200
    assert len(store.spans()) == 0  # still queued (the flush interval is long)
    col.stop()
    assert len(store.spans()) == 100 and col.stats.stored == 100 and len(store.files("spans")) == 1


def test_collect_command(tmp_path):
    path = tmp_path / "cli-store"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "llmops_nb.cli", "collect", "--store", str(path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        endpoint = line.split("listening on ")[1].split(" ")[0]
        r = httpx.post(endpoint, content=orjson.dumps(_request_json(3)), headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stored 3 spans" in out
    assert len(lo.Store(path).spans()) == 3


def test_port_in_use_fails_with_a_clear_error(store):
    with Collector(store, port=0) as col:
        other = Collector(store, port=col.port)
        with pytest.raises(OSError, match="choose another --port"):
            other.start()
        assert col.running and not other.running


def test_capture_also_exports_to_an_otlp_backend(tmp_path, llm_kwargs):
    """capture(exporter=OTLPSpanExporter(...)) sends the same spans to another backend (here our
    own collector): both stores hold equal rows."""
    import litellm
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    local, remote = lo.Store(tmp_path / "local"), lo.Store(tmp_path / "remote")
    with Collector(remote, port=0) as col:
        with lo.capture(local, exporter=OTLPSpanExporter(endpoint=col.endpoint), user_id="u-1"), \
                lo.span("agent", name="support") as s:
            with lo.span("retriever", name="kb") as r:
                r.set_documents(["Refunds take 5 days."])
            litellm.completion(messages=[{"role": "user", "content": "echo:refund"}], **llm_kwargs)
            s.set_output("done")
        assert col.flush(30)
    a = local.spans().sort_values("span_id").to_dict("records")
    b = remote.spans().sort_values("span_id").to_dict("records")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert (x["source_format"], y["source_format"]) == ("capture", "otlp_proto")
        for c in COMPARED:
            xv, yv = x[c], y[c]
            assert (xv != xv and yv != yv) or xv == yv, (c, xv, yv)


def test_real_exporter_retries_after_503(store):
    """The OTLP exporter honours 503 + Retry-After: a batch refused while the queue is full
    arrives once the writer catches up; nothing is lost."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    slow = _SlowStore(store)
    with Collector(slow, port=0, max_queue_spans=1, flush_interval_s=0.01) as col:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=col.endpoint, timeout=30)))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("first"):
            pass  # accepted: the queue holds it while the store is blocked
        def release_after_a_refusal() -> None:  # the writer catches up once a batch was refused
            while col.stats.busy_requests == 0:
                threading.Event().wait(0.01)
            slow.go.set()

        release = threading.Thread(target=release_after_a_refusal, daemon=True)
        release.start()
        with tracer.start_as_current_span("second"):
            pass  # refused with 503 first, then retried by the exporter
        release.join(30)
        assert col.flush(30)
        assert col.stats.busy_requests >= 1
    assert sorted(store.spans()["name"]) == ["first", "second"]
