"""OTel ids are validated per record (issue 13, section 3), and OTLP JSON and protobuf of the
same spans give equal frames, ``otel.span.kind`` and attribute types included."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.loaders import LoadError

T = "5b8efff798038103d269b633813fc60c"


def _span(sid, parent=None, name="s", trace=T, **kw):
    sp = {"traceId": trace, "spanId": sid, "name": name, "startTimeUnixNano": "1700000000000000000",
          "endTimeUnixNano": "1700000001000000000", "attributes": [{"key": "llmops.kind", "value": {"stringValue": "chain"}}]}
    if parent is not None:
        sp["parentSpanId"] = parent
    sp.update(kw)
    return sp


def _doc(*spans):
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}


def _write(tmp_path, doc, name="trace.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


BAD = _doc(
    _span("aaaaaaaaaaaaaaaa", name="root"),
    _span("abc123", "aaaaaaaaaaaaaaaa", name="short id"),            # wrong-length hex
    _span("bbbbbbbbbbbbbbbb", "abc123", name="child of short"),       # must stay linked to it
    _span("0000000000000000", "aaaaaaaaaaaaaaaa", name="zero id"),    # all-zero span id
    _span("cccccccccccccccc", "0000000000000000", name="zero parent"),  # all-zero parent: a root, no problem
    _span("dddddddddddddddd", "aaaaaaaaaaaaaaaa", name="bad b64", trace="W47/95gD!!QPSabYzgT/GDA=="),
    _span("eeeeeeeeeeeeeeee", name="zero trace", trace="0" * 32),
)


def test_invalid_ids_raise_naming_file_and_position(tmp_path):
    p = _write(tmp_path, BAD)
    with pytest.raises(LoadError) as e:
        lo.read_traces(p)
    msg = str(e.value)
    assert str(p) in msg and "resourceSpans[0].scopeSpans[0].spans[1]" in msg and "'abc123' is 6 hex digits, not 16" in msg


def test_invalid_ids_skip_reports_each_repair_and_keeps_tree_linked(tmp_path):
    p = _write(tmp_path, BAD)
    spans, report = lo.read_traces(p, errors="skip")
    assert len(spans) == 7  # nothing lost
    by = spans.set_index("name")
    rep = report.set_index("record")["error"].to_dict()
    actions = report.set_index("record")["action"].to_dict()
    pos = "resourceSpans[0].scopeSpans[0].spans[{}]".format
    assert rep[pos(1)].endswith("spanId 'abc123' is 6 hex digits, not 16")
    assert actions[pos(1)] == "repaired: spanId kept as written (abc123)"
    assert by.loc["child of short", "parent_span_id"] == by.loc["short id", "span_id"] == "abc123"
    assert "all zeros" in rep[pos(3)] and by.loc["zero id", "span_id"] not in ("0" * 16, None)
    assert len(by.loc["zero id", "span_id"]) == 16
    assert pos(4) not in rep and pd.isna(by.loc["zero parent", "parent_span_id"])
    assert "neither 32 hex digits nor decodable base64" in rep[pos(5)]
    assert "traceId is all zeros" in rep[pos(6)] and len(by.loc["zero trace", "trace_id"]) == 32
    assert rep[pos(2)].endswith("parentSpanId 'abc123' is 6 hex digits, not 16")  # each record that names it
    assert by.loc["bad b64", "trace_id"] == "W47/95gD!!QPSabYzgT/GDA=="
    assert len(report) == 5


def test_base64_ids_of_the_protobuf_json_mapping_are_valid(tmp_path):
    b64 = base64.b64encode(bytes.fromhex(T)).decode()
    sid = base64.b64encode(bytes.fromhex("aaaaaaaaaaaaaaaa")).decode()
    spans, report = lo.read_traces(_write(tmp_path, _doc(_span(sid, trace=b64))), errors="skip")
    assert report.empty and spans["trace_id"].tolist() == [T] and spans["span_id"].tolist() == ["aaaaaaaaaaaaaaaa"]


def _proto_request():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "svc"
    ss = rs.scope_spans.add()
    ss.scope.name = "scope"
    for i, (kind, parent) in enumerate([(2, b""), (3, bytes.fromhex("0000000000000001")), (1, bytes.fromhex("0000000000000001"))]):
        sp = ss.spans.add()
        sp.trace_id, sp.span_id, sp.parent_span_id = bytes.fromhex(T), (i + 1).to_bytes(8, "big"), parent
        sp.name, sp.kind = f"span {i}", kind
        sp.start_time_unix_nano, sp.end_time_unix_nano = 1_700_000_000_123_456_789 + i, 1_700_000_001_000_000_000
        for key, setter in [("s", lambda v: setattr(v, "string_value", "x")), ("i", lambda v: setattr(v, "int_value", 2**40)),
                            ("d", lambda v: setattr(v, "double_value", 0.5)), ("b", lambda v: setattr(v, "bool_value", True)),
                            ("raw", lambda v: setattr(v, "bytes_value", b"\x00\xffab"))]:
            a = sp.attributes.add()
            a.key = key
            setter(a.value)
        arr = sp.attributes.add()
        arr.key = "arr"
        arr.value.array_value.values.add().int_value = 7
        arr.value.array_value.values.add().string_value = "y"
        kvl = sp.attributes.add()
        kvl.key = "kv"
        inner = kvl.value.kvlist_value.values.add()
        inner.key, inner.value.double_value = "k", 1.5
        ev = sp.events.add()
        ev.name, ev.time_unix_nano = "exception", 1_700_000_000_500_000_000
        ea = ev.attributes.add()
        ea.key, ea.value.string_value = "exception.message", "boom"
        if i == 1:
            sp.status.code, sp.status.message = 2, "failed"
    return req


def test_otlp_json_and_protobuf_give_equal_frames(tmp_path):
    from google.protobuf.json_format import MessageToDict

    req = _proto_request()
    pb = tmp_path / "spans.pb"
    pb.write_bytes(req.SerializeToString())
    mapping = MessageToDict(req)  # protobuf JSON mapping: base64 ids, enum names
    spec = MessageToDict(req, use_integers_for_enums=True)  # OTLP/JSON: hex ids, integer enums

    def hexify(o):
        if isinstance(o, dict):
            for k in ("traceId", "spanId", "parentSpanId"):
                if k in o:
                    o[k] = base64.b64decode(o[k]).hex()
            for v in o.values():
                hexify(v)
        elif isinstance(o, list):
            for v in o:
                hexify(v)

    hexify(spec)
    frames = [lo.read_traces(pb), lo.read_traces(_write(tmp_path, spec, "spec.json")), lo.read_traces(_write(tmp_path, mapping, "mapping.json"))]
    for f in frames:
        f.drop(columns=["source_format"], inplace=True)
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])
    f = frames[0].set_index("name")
    assert f.loc["span 0", "attributes"]["otel.span.kind"] == "SPAN_KIND_SERVER"
    assert f.loc["span 1", "attributes"]["otel.span.kind"] == "SPAN_KIND_CLIENT"
    assert "otel.span.kind" not in f.loc["span 2", "attributes"]  # internal is the default
    a = f.loc["span 0", "attributes"]
    assert (a["i"], a["d"], a["b"], a["raw"], a["arr"], a["kv"]) == (2**40, 0.5, True, "00ff6162", [7, "y"], {"k": 1.5})
    assert f.loc["span 1", "status"] == "error" and f.loc["span 1", "error_message"] == "failed"


def test_protobuf_ids_of_wrong_length_are_reported(tmp_path):
    req = _proto_request()
    req.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01\x02"
    pb = tmp_path / "bad.pb"
    pb.write_bytes(req.SerializeToString())
    with pytest.raises(LoadError, match=r"spans\[1\].*spanId is 2 bytes, not 8"):
        lo.read_traces(pb)
    spans, report = lo.read_traces(pb, errors="skip")
    assert len(spans) == 3 and report["action"].tolist() == ["repaired: spanId kept as written (0102)"]


def test_the_alias_table_says_where_each_key_was_seen_and_feeds_the_mapping():
    from llmops_nb.loaders import attribute_aliases
    from llmops_nb.loaders._aliases import keys

    t = attribute_aliases()
    assert {"openinference", "gen_ai", "openllmetry", "vercel", "langfuse"} <= set(t["convention"])
    assert t["seen_in"].str.len().min() > 0
    renamed = t[t["field"] == "prompt_tokens"]["key"].tolist()
    assert {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"} <= set(renamed)
    assert keys("prompt_tokens").index("gen_ai.usage.input_tokens") < keys("prompt_tokens").index("gen_ai.usage.prompt_tokens")
    # the older key still reads, through the same table
    doc = _doc(_span("aaaaaaaaaaaaaaaa", attributes=[{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                                       {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "7"}}]))
    assert lo.read_traces([doc], format="otlp_json")["prompt_tokens"].tolist() == [7]


def test_otlp_log_records_without_their_spans_are_an_error_not_silence(tmp_path):
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "traceId": T, "spanId": "aaaaaaaaaaaaaaaa", "eventName": "gen_ai.user.message",
        "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "hi"}}]}}}]}]}]}
    p = _write(tmp_path, logs, "logs.json")
    with pytest.raises(LoadError, match="log records of span 'aaaaaaaaaaaaaaaa'.*no span among the records read"):
        lo.read_traces(p)
    spans = _write(tmp_path, _doc(_span("aaaaaaaaaaaaaaaa", attributes=[
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}])), "spans.json")
    f = lo.read_traces([spans, p])
    assert len(f) == 1 and f["input_messages"][0][0]["content"] == "hi" and f["input_text"][0] == "hi"
