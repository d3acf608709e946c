"""The native OTLP protobuf decoder (``llmops_nb/loaders/_otlp_pb.c``) gives what upb gives.

Every input is mapped twice, through the decoder and through upb walked in Python (the path without
the extension), and both must give the same rows and the same id problems, or raise the same error:
random bytes, real exports with bytes flipped, cut, inserted or dropped, generated messages with
every kind of attribute value and span oddity, and wire-format cases the decoder hands back to upb
on purpose (merged singular messages, two oneof members, groups, bad UTF-8, deep nesting...).
tests/loaders/test_otlp_fast_mapping.py compares both with the reference mapping on every fixture.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import bench_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_nb.loaders import _otlp_fast, otlp

ROOT = Path(__file__).resolve().parents[2]
NATIVE = _otlp_fast.NATIVE
needs_native = pytest.mark.skipif(NATIVE is None, reason="native decoder not built (no C compiler?) or LLMOPS_NB_NATIVE=0")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(data: bytes, native: Any) -> Any:
    """(rows, id problems) of ``data`` mapped with ``native`` (None: upb), or the error it raises."""
    problems: list[Any] = []
    saved = _otlp_fast.NATIVE
    _otlp_fast.NATIVE = native
    try:
        cols = otlp.map_otlp_proto(data, {"problem": lambda *a: problems.append(a), "times_us": True})
        return cols.rows(), cols.times_us, problems
    except Exception as e:  # the same error either way
        return type(e).__name__, str(e)
    finally:
        _otlp_fast.NATIVE = saved


def _same_both_ways(data: bytes) -> Any:
    got = _outcome(data, NATIVE)
    assert got == _outcome(data, None)
    return got


_EXPORTS: list[bytes] = []


def _exports() -> list[bytes]:
    """A few real-shaped exports (the load benchmark's generator: every convention it writes)."""
    if not _EXPORTS:
        b = bench_module("bench_load")
        _EXPORTS.extend(b.to_proto(d).SerializeToString() for d in b.documents(60, seed=11, per_export=12))
    return _EXPORTS


def test_native_decoder_is_built_where_a_compiler_is() -> None:
    """``pip install`` builds the extension when a C compiler is there (it is optional: no compiler, no failure)."""
    import os

    if os.environ.get("LLMOPS_NB_NATIVE", "1") == "0":
        assert not otlp.native_available()
        pytest.skip("LLMOPS_NB_NATIVE=0")
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler")
    assert otlp.native_available(), "llmops_nb/loaders/_otlp_pb.c is not built (or built from an older source): run make install"


@needs_native
def test_real_exports_are_decoded_natively() -> None:
    from llmops_nb.loaders._otlp_fast import _KINDS

    for data in _exports():
        decoded = NATIVE.decode(data, _KINDS)
        assert decoded is not None and decoded[1] is False  # read whole, no upb check needed
        assert all(s is not None for _, scopes in decoded[0] for _, spans in scopes for s in spans)
        _same_both_ways(data)


@needs_native
@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _same_both_ways(data)


@needs_native
@FUZZ
@given(st.data())
def test_mutated_real_exports(draw: Any) -> None:
    data = bytearray(draw.draw(st.sampled_from(_exports())))
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(data)))
        op = draw.draw(st.sampled_from(("flip", "cut", "insert", "drop", "set")))
        if op == "flip" and i < len(data):
            data[i] ^= 1 << draw.draw(st.integers(0, 7))
        elif op == "set" and i < len(data):
            data[i] = draw.draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x12)))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw.draw(st.binary(min_size=1, max_size=6))
        elif op == "drop":
            del data[i:i + draw.draw(st.integers(1, 8))]
    _same_both_ways(bytes(data))


# ------------------------------------------------------------------------- generated messages

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_keys = st.one_of(st.sampled_from(["gen_ai.request.model", "llm.model_name", "input.value", "output.value",
                                   "openinference.span.kind", "session.id", "llm.token_count.prompt", "metadata",
                                   "tag.tags", "gen_ai.usage.input_tokens", "retrieval.documents.0.document.id",
                                   "llm.input_messages.0.message.content", "ai.model.id", "user.id", ""]), _text)


def _value(pb: Any, v: Any) -> None:
    kind, x = v
    if kind == "s":
        pb.string_value = x
    elif kind == "b":
        pb.bool_value = x
    elif kind == "i":
        pb.int_value = x
    elif kind == "d":
        pb.double_value = x
    elif kind == "y":
        pb.bytes_value = x
    elif kind == "a":
        pb.array_value.SetInParent()
        for y in x:
            _value(pb.array_value.values.add(), y)
    elif kind == "k":
        pb.kvlist_value.SetInParent()
        for k, y in x:
            kv = pb.kvlist_value.values.add(key=k)
            if y is not None:
                _value(kv.value, y)


_scalar = st.one_of(st.tuples(st.just("s"), _text), st.tuples(st.just("b"), st.booleans()),
                    st.tuples(st.just("i"), st.integers(-2**63, 2**63 - 1)),
                    st.tuples(st.just("d"), st.floats(allow_nan=False)), st.tuples(st.just("y"), st.binary(max_size=6)))
_values = st.recursive(_scalar, lambda inner: st.one_of(
    st.tuples(st.just("a"), st.lists(inner, max_size=3)),
    st.tuples(st.just("k"), st.lists(st.tuples(_keys, st.one_of(st.none(), inner)), max_size=3))), max_leaves=8)
def _mostly(good: Any, odd: Any) -> Any:
    """Values mostly ``good``, else ``odd`` (spans the decoder reads, and the others)."""
    return st.tuples(st.integers(0, 3), good, odd).map(lambda t: t[2] if t[0] == 3 else t[1])


def _nonzero(n: int) -> Any:
    return st.binary(min_size=n - 1, max_size=n - 1).map(lambda b: b + b"\x01")


_span_ids = _mostly(_nonzero(8), st.one_of(st.just(b""), st.just(b"\0" * 8), st.binary(max_size=17)))
_times = _mostly(st.integers(1_600_000_000_000_000_000, 1_800_000_000_000_000_000),
                 st.one_of(st.just(0), st.integers(0, 2**64 - 1)))
_span = st.fixed_dictionaries({
    "trace_id": _mostly(_nonzero(16), st.one_of(st.just(b"\0" * 16), st.binary(max_size=17))),
    "span_id": _span_ids, "parent_span_id": st.one_of(st.just(b""), _span_ids),
    "name": _text, "kind": _mostly(st.integers(0, 5), st.integers(-3, 8)), "start": _times, "end": _times,
    "attrs": st.lists(st.tuples(_keys, st.one_of(st.none(), _values)), max_size=6),
    "code": st.integers(-1, 4), "message": _text, "events": _mostly(st.just(0), st.integers(0, 2)),
    "links": _mostly(st.just(0), st.integers(0, 1)), "trace_state": _text, "flags": st.integers(0, 2**32 - 1)})


def _request(groups: list[Any]) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    for res, scopes in groups:
        rs = req.resource_spans.add()
        for k, v in res:
            kv = rs.resource.attributes.add(key=k)
            if v is not None:
                _value(kv.value, v)
        for scope, scope_attrs, spans in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = scope
            if scope_attrs and scope.startswith("a"):
                ss.scope.attributes.add(key="a").value.int_value = 1
            for d in spans:
                sp = ss.spans.add(trace_id=d["trace_id"], span_id=d["span_id"], parent_span_id=d["parent_span_id"],
                                  name=d["name"], kind=d["kind"], start_time_unix_nano=d["start"],
                                  end_time_unix_nano=d["end"], trace_state=d["trace_state"], flags=d["flags"])
                for k, v in d["attrs"]:
                    kv = sp.attributes.add(key=k)
                    if v is not None:
                        _value(kv.value, v)
                sp.status.code = d["code"]
                sp.status.message = d["message"]
                for j in range(d["events"]):
                    sp.events.add(name=f"e{j}", time_unix_nano=d["start"])
                for _ in range(d["links"]):
                    sp.links.add(trace_id=d["trace_id"], span_id=d["span_id"])
    return req.SerializeToString()


_groups = st.lists(st.tuples(st.lists(st.tuples(_keys, st.one_of(st.none(), _values)), max_size=3),
                             st.lists(st.tuples(_text, st.booleans(), st.lists(_span, min_size=1, max_size=4)), min_size=1, max_size=2)),
                   min_size=1, max_size=2)


@needs_native
@FUZZ
@given(_groups)
def test_generated_messages(groups: list[Any]) -> None:
    _same_both_ways(_request(groups))


@needs_native
def test_attribute_values_decoded_as_upb_gives_them() -> None:
    """Arrays, kvlists, bytes, negative ints, bools and doubles come out as upb's Python values."""
    from llmops_nb.loaders._otlp_fast import _KINDS

    span = {"trace_id": bytes(range(1, 17)), "span_id": bytes(range(1, 9)), "parent_span_id": b"", "name": "n", "kind": 3,
            "start": 1_735_689_600_123_456_789, "end": 0, "code": 2, "message": "boom", "events": 0, "links": 0,
            "trace_state": "", "flags": 0,
            "attrs": [("i", ("i", -5)), ("b", ("b", True)), ("d", ("d", -0.5)), ("y", ("y", b"\x00\xff")), ("none", None),
                      ("a", ("a", [("s", "x"), ("a", [("i", 2**63 - 1)]), ("k", [("k1", None), ("k2", ("y", b""))])])),
                      ("k", ("k", [("dup", ("i", 1)), ("dup", ("s", "last"))]))]}
    data = _request([([("service.name", ("s", "svc"))], [("scope", False, [span])])])
    (groups, validate), = [NATIVE.decode(data, _KINDS)]
    (resource, [(scope, [s])]), = groups
    assert (resource, scope, validate) == ({"service.name": "svc"}, "scope", False)
    assert s[0] == {"i": -5, "b": True, "d": -0.5, "y": "00ff", "none": None,
                    "a": ["x", [2**63 - 1], {"k1": None, "k2": ""}], "k": {"dup": "last"}}
    assert s[1:] == (bytes(range(1, 17)).hex(), bytes(range(1, 9)).hex(), None, "n", 1_735_689_600_123_456, None, "error",
                     "boom", "SPAN_KIND_CLIENT")
    assert _same_both_ways(data)[0][0]["attributes"] is not None


def _key(num: int, wt: int) -> bytes:
    return _varint(num << 3 | wt)


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _key(num, 2) + _varint(len(payload)) + payload


def _wrap_span(span: bytes) -> bytes:
    return _ld(1, _ld(2, _ld(2, span)))


_IDS = _ld(1, bytes(range(1, 17))) + _ld(2, bytes(range(1, 9)))


@needs_native
@pytest.mark.parametrize("span, native_reads_it", [
    (_IDS + _ld(5, b"ok"), True),
    (_IDS + _key(99, 0) + _varint(7) + _key(98, 5) + b"abcd" + _ld(97, b"\xff\xfe"), True),  # unknown fields kept aside
    (_IDS + _ld(15, _key(3, 0) + b"\x02") + _ld(15, _ld(2, b"merged")), False),  # two status: protobuf merges them
    (_IDS + _ld(9, _ld(1, b"k") + _ld(2, _ld(1, b"a")) + _ld(2, _key(3, 0) + b"\x05")), False),  # two values merged
    (_IDS + _ld(9, _ld(1, b"k") + _ld(2, _ld(1, b"a") + _key(3, 0) + b"\x05")), False),  # two oneof members
    (_IDS + _ld(9, _ld(1, b"k") + _ld(2, _key(8, 0) + b"\x03")), False),  # string_value_strindex
    (_IDS + _key(5, 0) + b"\x01", False),  # name with a varint wire type (upb keeps it as unknown)
    (_IDS + _key(20, 3) + _key(20, 4), False),  # a group
    (_IDS + _ld(5, b"\xed\xa0\x80"), False),  # a UTF-16 surrogate in UTF-8: upb rejects it
    (_IDS + _ld(3, b"\xff"), False),  # bad UTF-8 in trace_state, which is not mapped
    (_IDS + _key(6, 0) + b"\x80" * 10 + b"\x01", False),  # varint of 11 bytes
    (_IDS + _key(6, 0) + b"\xff" * 9 + b"\x01", True),  # kind -1: the reference maps that span
    (_IDS + _key(7, 1) + struct.pack("<Q", 2**64 - 1), True),  # time past 2200: the reference
    (_IDS + _ld(13, b"\x0b"), True),  # a link that is not a message: decoded, then upb raises
    (_IDS + _ld(11, b""), True),  # an empty event: the span is the reference's
])
def test_wire_cases(span: bytes, native_reads_it: bool) -> None:
    from llmops_nb.loaders._otlp_fast import _KINDS

    data = _wrap_span(span)
    assert (NATIVE.decode(data, _KINDS) is not None) == native_reads_it
    _same_both_ways(data)


@needs_native
def test_deep_nesting_goes_to_upb_and_never_crashes() -> None:
    from llmops_nb.loaders._otlp_fast import _KINDS

    def nested(depth: int) -> bytes:
        v = _ld(3, b"") if False else _key(3, 0) + b"\x01"  # int_value 1
        for _ in range(depth):
            v = _ld(5, _ld(1, v))  # array_value{values=[v]}
        return _wrap_span(_IDS + _ld(9, _ld(1, b"deep") + _ld(2, v)))

    assert NATIVE.decode(nested(30), _KINDS) is not None
    assert NATIVE.decode(nested(40), _KINDS) is None
    for depth in (30, 40, 200, 5000):
        _same_both_ways(nested(depth))
    # a length running past its message, lengths of 2**63, and every prefix of a real export
    for data in (_wrap_span(_IDS + _key(9, 2) + _varint(2**63)), _ld(1, b"") + _key(1, 2) + b"\xff" * 9 + b"\x7f"):
        assert NATIVE.decode(data, _KINDS) is None
        _same_both_ways(data)
    real = _exports()[0]
    for i in range(0, len(real), max(1, len(real) // 200)):
        _same_both_ways(real[:i])


@needs_native
def test_native_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_NB_NATIVE", "0")
    assert _otlp_fast._native_module() is None
    monkeypatch.setenv("LLMOPS_NB_NATIVE", "1")
    assert _otlp_fast._native_module() is NATIVE


# ------------------------------------------------------------------------- the attribute scan

def _scan_both(a: dict[str, Any]) -> Any:
    """``_map``'s first pass over ``a`` in C and in Python: the same, in the same order."""
    got = NATIVE.scan(a, _otlp_fast._KEY_INFO, _otlp_fast._classify)
    want = _otlp_fast._scan_py(a)
    assert got == want
    if got is not None:
        assert list(got[0].items()) == list(want[0].items()) and type(got[1]) is int  # type: ignore[index]
    return got


_scan_keys = st.one_of(_keys, st.sampled_from([
    "llm.input_messages.0.message.role", "llm.input_messages.1.message.content", "llm.output_messages.0.message.role",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
    "llm.output_messages.0.message.tool_calls.1.tool_call.id", "llm.input_messages.0.message.tool_call_id",
    "llm.input_messages.x.message.role", "retrieval.documents.1.document.content", "retrieval.documents.x.y",
    "gen_ai.prompt.0.content", "traceloop.entity.name", "gen_ai.response.model", "llm.provider", "gen_ai.system",
    "gen_ai.input.messages", "tool.name", "gen_ai.usage.output_tokens", "llm.token_count.total", "input.mime_type"]))
_scan_values = st.one_of(st.none(), st.just(""), _text, st.integers(-3, 3), st.floats(allow_nan=False), st.booleans(),
                         st.lists(st.integers(), max_size=2))


@needs_native
@FUZZ
@given(st.dictionaries(_scan_keys, _scan_values, max_size=12))
def test_scan_equals_the_python_scan(a: dict[str, Any]) -> None:
    _scan_both(a)


@needs_native
def test_scan_on_every_exported_span() -> None:
    from llmops_nb.loaders._otlp_fast import _KINDS

    bench = bench_module("bench_load")
    reqs = [bench.to_proto(d).SerializeToString() for d in bench.documents(400, seed=9, per_export=100)]
    n = scanned = 0
    for data in reqs:
        groups, _ = NATIVE.decode(data, _KINDS)
        for resource, scopes in groups:
            _scan_both(resource)
            for _, spans in scopes:
                for s in spans:
                    n += 1
                    scanned += _scan_both(s[0]) is not None
    assert n == 400 and scanned == 400
    with pytest.raises(TypeError, match="key info of 'k'"):
        NATIVE.scan({"k": 1}, {"k": (0, None)}, _otlp_fast._classify)
    with pytest.raises(ZeroDivisionError):
        NATIVE.scan({"k": 1}, {}, lambda k: 1 / 0)


@needs_native
def test_a_file_is_decoded_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Format detection decodes a protobuf file natively and the mapping takes that decode (no
    second decode, no upb parse); the frame is the one upb gives."""
    from llmops_nb.loaders import read_traces

    calls: list[int] = []

    class Counting:
        scan = staticmethod(NATIVE.scan)

        @staticmethod
        def decode(data: bytes, kinds: Any) -> Any:
            calls.append(len(data))
            return NATIVE.decode(data, kinds)

    files = []
    for i, data in enumerate(_exports()[:3]):
        (f := tmp_path / f"export_{i}.pb").write_bytes(data)
        files.append(str(f))
    monkeypatch.setattr(_otlp_fast, "NATIVE", Counting)
    fast = read_traces(files, workers=1)
    assert len(calls) == 3 and _otlp_fast._DETECTED == [None, None]
    monkeypatch.setattr(_otlp_fast, "NATIVE", None)
    import pandas as pd

    pd.testing.assert_frame_equal(fast, read_traces(files, workers=1))
