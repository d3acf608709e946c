"""The native OTLP/JSON decoder (``llmops_nb/loaders/_otlp_json.c``) gives what orjson + the Python
mapping give, or steps aside.

For one export's bytes, ``_otlp_fast.native_export`` either returns None (the caller parses with
orjson as without the decoder) or a document whose mapping must equal the reference mapping of
orjson's parse of the same bytes, row for row, and the same error when the reference raises.
Checked on hand-written edge cases (unicode, escapes, surrogate pairs, big ints, NaN, nested
arrays/kvlists, empty attributes, missing fields), on random exports (hypothesis) and on mutated
bytes of real exports (never a crash; anything accepted is valid JSON that orjson reads the same).
The fixture-wide comparison (every JSON fixture, native vs pure Python vs reference) is in
test_otlp_fast_mapping.py.
"""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any

import pytest

from llmops_nb.loaders import _otlp_fast, _read

needs_native = pytest.mark.skipif(_otlp_fast.NATIVE_JSON is None, reason="native OTLP/JSON decoder not built (no C compiler)")

TID, SID, PID = "5b8efff798038103d269b633813fc60c", "d269b633813fc60c", "eee19b7ec3c1b174"
T0 = 1_735_689_600_000_000_000


def _outcome(fn: Any) -> str:
    """The rows as their repr (NaN equals NaN there; 1, 1.0 and True differ), or the error."""
    try:
        return repr(fn().rows())
    except Exception as e:  # the same error either way
        return f"{type(e).__name__}: {e}"


def _reference(data: bytes) -> Any:
    """The mapping without the decoder: the bytes parsed as read_traces parses them, then map_json."""
    return _outcome(lambda: _otlp_fast.map_json(_read._loads(data)))


def _check(data: bytes, expect_native: bool | None = None) -> bool:
    """Native and reference agree on ``data``; returns whether the decoder read it."""
    ne = _otlp_fast.native_export(data, _read._loads)
    if expect_native is not None:
        assert (ne is not None) == expect_native, data[:300]
    if ne is None:
        return False
    _read._loads(data)  # anything the decoder reads is JSON the usual parser reads too
    assert _outcome(lambda: _otlp_fast.map_json(ne)) == _reference(data), data[:500]
    return True


def _kv(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def _export(spans: list[dict[str, Any]], resource: list[Any] | None = None, scope: Any = None) -> dict[str, Any]:
    ss: dict[str, Any] = {"spans": spans}
    if scope is not None:
        ss["scope"] = scope
    return {"resourceSpans": [{"resource": {"attributes": resource or []}, "scopeSpans": [ss]}]}


def _span(**kw: Any) -> dict[str, Any]:
    s = {"traceId": TID, "spanId": SID, "name": "chat", "kind": 3, "startTimeUnixNano": str(T0),
         "endTimeUnixNano": str(T0 + 1_234_567), "attributes": [], "status": {}}
    s.update(kw)
    return {k: v for k, v in s.items() if v is not _DROP}


_DROP = object()


def _dumps(doc: Any, ascii_only: bool = False) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_only, separators=(",", ":")).encode()


ATTRS = [
    _kv("gen_ai.request.model", {"stringValue": "gpt-4o"}),
    _kv("gen_ai.operation.name", {"stringValue": "chat"}),
    _kv("unicode", {"stringValue": "caf\u00e9 \u65e5\u672c \U0001f600 \u0000 tab\t quote\" back\\ slash/"}),
    _kv("big", {"intValue": "123456789012345678901234567890"}),
    _kv("big_number", {"intValue": 98765432109876543210987}),
    _kv("neg", {"intValue": -42}),
    _kv("int_text", {"intValue": "-7"}),
    _kv("nan", {"doubleValue": "NaN"}),
    _kv("inf", {"doubleValue": "Infinity"}),
    _kv("ninf", {"doubleValue": "-Infinity"}),
    _kv("dbl", {"doubleValue": 0.1}),
    _kv("dbl_int", {"doubleValue": 3}),
    _kv("dbl_text", {"doubleValue": "2.5e-3"}),
    _kv("yes", {"boolValue": True}),
    _kv("no", {"boolValue": False}),
    _kv("empty", {}),
    _kv("null", None),
    _kv("arr", {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {"arrayValue": {"values": [{"boolValue": True}]}},
                                          {}, None, {"kvlistValue": {"values": [_kv("k", {"doubleValue": 1.5})]}}]}}),
    _kv("arr_empty", {"arrayValue": {}}),
    _kv("arr_null", {"arrayValue": None}),
    _kv("kv", {"kvlistValue": {"values": [_kv("a", {"stringValue": "x"}), _kv("a", {"stringValue": "y"}), _kv("b", None)]}}),
    _kv("bytes", {"bytesValue": base64.b64encode(b"\x00\x01hello").decode()}),
    _kv("bytes_bad", {"bytesValue": "not base64!"}),
    _kv("dup", {"stringValue": "first"}),
    _kv("dup", {"stringValue": "second"}),
    _kv("", {"stringValue": "empty key"}),
]


@needs_native
@pytest.mark.parametrize("ascii_only", [False, True])
def test_values_decoded_as_the_reference_decodes_them(ascii_only: bool) -> None:
    doc = _export([_span(attributes=ATTRS), _span(spanId=PID, parentSpanId=SID, attributes=[])],
                  resource=[_kv("service.name", {"stringValue": "svc \u00e9"}), _kv("n", {"intValue": "3"})],
                  scope={"name": "scope \U0001f600", "version": "1"})
    data = _dumps(doc, ascii_only)  # ensure_ascii: \u escapes, astral characters as surrogate pairs
    assert _check(data, expect_native=True)
    ne = _otlp_fast.native_export(data, _read._loads)
    assert ne is not None
    a = ne.groups[0][1][0][1][0][0]
    assert a["unicode"] == "caf\u00e9 \u65e5\u672c \U0001f600 \u0000 tab\t quote\" back\\ slash/"
    assert a["big"] == 123456789012345678901234567890 and a["big_number"] == 98765432109876543210987
    assert math.isnan(a["nan"]) and a["inf"] == math.inf and a["ninf"] == -math.inf
    assert a["bytes"] == "000168656c6c6f" and a["bytes_bad"] == "not base64!"
    assert a["kv"] == {"a": "y", "b": None} and a["dup"] == "second" and list(a).index("dup") < list(a).index("")
    assert a["arr"] == ["a", 1, [True], None, None, {"k": 1.5}]


@needs_native
@pytest.mark.parametrize("span", [
    _span(),
    _span(attributes=None), _span(attributes=_DROP), _span(status=_DROP), _span(status=None), _span(kind=_DROP),
    _span(name=_DROP), _span(name=None), _span(parentSpanId=""), _span(parentSpanId=None), _span(parentSpanId=PID),
    _span(kind=0), _span(kind=1), _span(kind=5), _span(kind="SPAN_KIND_CLIENT"), _span(kind="SPAN_KIND_INTERNAL"),
    _span(status={"code": 2, "message": "boom"}), _span(status={"code": 1, "message": ""}), _span(status={"code": 7}),
    _span(startTimeUnixNano=T0, endTimeUnixNano=T0 + 1999), _span(startTimeUnixNano="0", endTimeUnixNano=0),
    _span(startTimeUnixNano="", endTimeUnixNano=None), _span(startTimeUnixNano="-1500", endTimeUnixNano="-0"),
    _span(events=[]), _span(events=None),
])
def test_span_fields_read_natively(span: dict[str, Any]) -> None:
    _check(_dumps(_export([span])), expect_native=True)


@needs_native
@pytest.mark.parametrize("span", [
    # the reference decides these spans (the decoder reads the export, and leaves them to it)
    _span(events=[{"name": "e", "timeUnixNano": str(T0)}]), _span(traceId=TID.upper()), _span(traceId="0" * 32),
    _span(spanId=SID[:-1]), _span(traceId=_DROP), _span(startTimeUnixNano=_DROP), _span(parentSpanId="zz"),
    _span(kind=9), _span(kind="client"), _span(kind=True), _span(kind=2.0), _span(status={"code": "STATUS_CODE_ERROR"}),
    _span(status="x"), _span(status={"code": 2, "message": 5}), _span(name=5), _span(name=["a"]), _span(attributes={}),
    _span(attributes=[{"key": 1, "value": {"stringValue": "x"}}]), _span(attributes=[{"value": {"stringValue": "x"}}]),
    _span(attributes=[_kv("a", {"string_value": "snake"})]), _span(attributes=[_kv("a", {"stringValue": "x", "intValue": "1"})]),
    _span(attributes=[_kv("a", {"intValue": "1.5"})]), _span(attributes=[_kv("a", {"intValue": 1.5})]),
    _span(attributes=[_kv("a", {"intValue": " 12 "})]), _span(attributes=[_kv("a", {"doubleValue": "abc"})]),
    _span(attributes=[_kv("a", {"stringValue": 5})]), _span(attributes=[_kv("a", {"boolValue": "true"})]),
    _span(attributes=[_kv("a", {"arrayValue": []})]), _span(attributes=[_kv("a", "text")]),
    _span(startTimeUnixNano=str(10**19)), _span(startTimeUnixNano="1e18"), _span(startTimeUnixNano=1.7e18),
    _span(startTimeUnixNano="+17"), _span(endTimeUnixNano=str(8_000_000_000_000_000_000)),
])
def test_spans_left_to_the_reference_map_as_the_reference_does(span: dict[str, Any]) -> None:
    _check(_dumps(_export([span, _span(spanId=PID)])), expect_native=True)


@needs_native
@pytest.mark.parametrize("text", [
    # exports the decoder does not read: orjson's path (same frame, same errors) takes them
    b'{"resourceSpans":[]} x', b'{"resourceSpans":[],}', b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"a",}]}]}]}',
    b'{"resource_spans":[]}', b'{"resourceSpans":[], "extra": 1}', b'{"resourceSpans":[{"scope_spans":[]}]}',
    b'{"resourceSpans":[{"instrumentationLibrarySpans":[]}]}', b'{"resourceSpans":[{"scopeSpans":[{"instrumentationLibrary":{}}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[1]}]}]}', b'{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","name":"b"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\\ud800"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\\udc00\\ud800"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\xff"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\xed\xa0\x80"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a\nb"}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"x":NaN}]}]}]}', b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"x":1e400}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"x":-9999999999999999999}]}]}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"x":01}]}]}]}', b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"x":1.}]}]}]}',
    b'{"resourceSpans":[{"resource":{"attributes":{"a":"b"}}}]}',
    b'{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"intValue":"x"}}]}}]}',
    b'{"resourceSpans":[{"scopeSpans":[{"scope":{"name":5}}]}]}', b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + b'[' * 200 + b']' * 200 + b']}]}]}',
    b'[{"resourceSpans":[]}]', b'', b'{', b'{"resourceSpans"', b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"',
])
def test_exports_the_decoder_does_not_read(text: bytes) -> None:
    assert _otlp_fast.native_export(text, _read._loads) is None


@needs_native
def test_deep_nesting_is_bounded() -> None:
    deep = b'{"arrayValue":{"values":[' * 5000 + b'{"stringValue":"leaf"}' + b"]}}" * 5000
    data = _dumps(_export([_span(attributes=[_kv("deep", "@")])])).replace(b'"@"', deep)
    assert _otlp_fast.native_export(data, _read._loads) is None  # orjson's path then raises its own error
    v: Any = {"stringValue": "leaf"}
    for _ in range(20):
        v = {"kvlistValue": {"values": [_kv("k", v)]}}
    _check(_dumps(_export([_span(attributes=[_kv("nested", v)])])), expect_native=True)


@needs_native
def test_mutated_exports_never_crash_and_agree() -> None:
    """Random byte edits of a realistic export (generated as the load benchmark writes it): the
    decoder never crashes, and what it reads, it reads as orjson + the reference mapping do."""
    from fixture_paths import bench_module

    doc = next(bench_module("bench_load").documents(12, seed=3))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] += ATTRS
    base = [_dumps(doc), _dumps(doc, ascii_only=True)]
    rng = random.Random(11)
    alphabet = b'{}[]:,"\\ \n0123456789-.eEtrufalsn' + "é😀".encode() + b"\xff\x80"
    read = 0
    for k in range(1500):
        data = bytearray(base[k % 2])
        for _ in range(rng.randint(1, 4)):
            if not data:
                break
            at = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[at] = rng.choice(alphabet)
            elif op < 0.7:
                del data[at: at + rng.randint(1, 8)]
            elif op < 0.9:
                data[at:at] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            else:
                data = data[:at]
        read += _check(bytes(data))
    assert read > 50  # many mutations stay valid JSON (inside strings, digits) and are read natively


@needs_native
def test_random_exports_agree() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    text = st.text(max_size=12)
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text)
    any_value = st.recursive(
        st.one_of(
            st.builds(lambda v: {"stringValue": v}, st.one_of(text, scalar)),
            st.builds(lambda v: {"intValue": v}, st.one_of(st.integers(-(2**80), 2**80).map(str), scalar,
                                                           st.sampled_from(["1_000", " 3", "+4", "x", "٣"]))),
            st.builds(lambda v: {"doubleValue": v}, st.one_of(st.floats(allow_nan=False), scalar,
                                                              st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "1e5", ""]))),
            st.builds(lambda v: {"boolValue": v}, scalar),
            st.builds(lambda v: {"bytesValue": v}, st.one_of(st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode()), text)),
            st.just({}), st.none(), st.builds(lambda k, v: {k: v}, text, scalar),
        ),
        lambda inner: st.one_of(
            st.builds(lambda xs: {"arrayValue": {"values": xs}}, st.lists(inner, max_size=3)),
            st.builds(lambda kvs: {"kvlistValue": {"values": kvs}},
                      st.lists(st.builds(lambda k, v: {"key": k, "value": v}, text, inner), max_size=3)),
        ),
        max_leaves=8,
    )
    keys = st.one_of(text, st.sampled_from(["gen_ai.request.model", "llm.model_name", "input.value", "output.value",
                                            "openinference.span.kind", "gen_ai.operation.name", "session.id", "metadata"]))
    kv = st.builds(lambda k, v: {"key": k, "value": v}, keys, any_value)
    hexid = st.one_of(st.sampled_from([TID, SID, PID, "", "0" * 16, SID.upper()]), text)
    times = st.one_of(st.integers(-(2**63), 2**64).map(str), st.integers(T0 - 10**18, T0 + 10**18),
                      st.sampled_from(["0", "", None, 0, "-0", "1e18"]))
    span = st.fixed_dictionaries(
        {"traceId": st.one_of(st.just(TID), hexid), "spanId": st.one_of(st.just(SID), hexid),
         "startTimeUnixNano": times, "endTimeUnixNano": times},
        optional={"parentSpanId": hexid, "name": st.one_of(text, scalar), "kind": st.one_of(st.integers(-1, 7), text, scalar),
                  "attributes": st.one_of(st.lists(kv, max_size=6), st.none()),
                  "status": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"code": st.one_of(st.integers(0, 3), scalar),
                                                                                      "message": st.one_of(text, scalar)})),
                  "events": st.one_of(st.none(), st.just([]), st.just([{"name": "e"}]))},
    )
    export = st.builds(lambda spans, res, scope: _export(spans, res, scope), st.lists(span, max_size=4),
                       st.lists(kv, max_size=3), st.one_of(st.none(), st.fixed_dictionaries({"name": text})))

    @hypothesis.settings(max_examples=300, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(export, st.booleans())
    def run(doc: Any, ascii_only: bool) -> None:
        _check(_dumps(doc, ascii_only))

    run()


def test_native_json_decoder_is_built_where_a_compiler_is() -> None:
    """``pip install`` builds the extension when a C compiler is there (optional: no compiler, no failure)."""
    import os
    import shutil

    from llmops_nb.loaders import otlp

    if os.environ.get("LLMOPS_NB_NATIVE", "1") == "0":
        assert not otlp.native_available("json")
        return
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler")
    assert otlp.native_available("json")


@needs_native
def test_native_json_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_NB_NATIVE", "0")
    assert _otlp_fast._native_module("_otlp_json") is None
    monkeypatch.setenv("LLMOPS_NB_NATIVE", "1")
    assert _otlp_fast._native_module("_otlp_json") is _otlp_fast.NATIVE_JSON
