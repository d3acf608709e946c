"""The native ``map`` and ``map_spans`` (``_otlp_pb.c``: ``_otlp_fast._map_py`` in C) give what ``_map_py`` gives.

Each span is mapped by both and the rows compared cell for cell, types and dict key order
included (int vs float, list vs tuple, None vs ""): every span of every trace fixture and
committed producer trace, the load benchmark's spans (OTLP/JSON and protobuf), attribute dicts
generated from the conventions' keys, and real spans' attributes mutated. A span the port leaves
to Python (NotImplemented) is mapped by ``_map_py``; one both hand to the reference (None) or both
raise on must agree too. tests/loaders/test_otlp_fast_mapping.py compares the frames with the
reference mapping; tests/loaders/test_otlp_native.py fuzzes the decoder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import bench_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops_nb.loaders import _otlp_fast, read_traces

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied
DIRS = [FIXTURES / d for d in ("otlp-examples", "otel-genai-semconv", "otel-openai-cassettes", "openinference", "any-agent",
                               "langfuse", "langsmith", "datadog", "real")] + [ROOT / "tests" / "loaders" / "data" / "producers"]
NATIVE_MAP = _otlp_fast.NATIVE_MAP
pytestmark = pytest.mark.skipif(NATIVE_MAP is None, reason="native map not built (no C compiler?) or LLMOPS_NB_NATIVE=0")
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(x: Any, y: Any, where: str = "row") -> None:
    """``x`` and ``y`` equal with the same types all the way down, dicts in the same key order."""
    assert type(x) is type(y), (where, x, y)
    if isinstance(x, dict):
        assert list(x) == list(y), (where, list(x), list(y))
        for k in x:
            _same(x[k], y[k], f"{where}[{k!r}]")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), (where, x, y)
        for i, (a, b) in enumerate(zip(x, y)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(x, float) and math.isnan(x):
        assert math.isnan(y), (where, x, y)
    else:
        assert x == y, (where, x, y)


def _outcome(fn: Any, args: tuple[Any, ...]) -> Any:
    try:
        return fn(*args)
    except Exception as e:  # the same error either way
        return ("raised", type(e).__name__)


COUNTS = {"c": 0, "python": 0, "reference": 0, "raised": 0}


def _map_both(args: tuple[Any, ...]) -> Any:
    """The native map and ``_map_py`` of one span's arguments: the same row (or both None / the same error)."""
    want = _outcome(_otlp_fast._map_py, args)
    got = _outcome(NATIVE_MAP, args)
    if got is NotImplemented:
        COUNTS["python"] += 1
        return want
    _same(got, want)
    COUNTS["reference" if got is None else "raised" if type(got) is tuple and got[0] == "raised" else "c"] += 1
    return got


SPANS: list[tuple[Any, ...]] = []  # every span's _map arguments seen by _checked (mutated below)


def _checked(*args: Any) -> Any:
    SPANS.append(args)
    row = _map_both(args)
    if type(row) is tuple and row and row[0] == "raised":
        raise ValueError("both raised")
    return row


def _checked_group(spans: list[Any], resource: dict[str, Any], scope: Any, fmt: str) -> Any:
    """``_otlp_fast._group_rows`` (the native ``map_spans`` over a decoded group), each row checked
    against ``_map_py`` through ``_decoded_row`` (its errors -> None, as the loops take them)."""
    rows, missing = _GROUP_ROWS(spans, resource, scope, fmt)
    assert len(rows) == len(spans) and missing == (None in rows)
    for s, row in zip(spans, rows):
        if s is None:
            assert row is None
            continue
        SPANS.append((*s, resource, scope, fmt))
        _map_both(SPANS[-1])
        _same(row, _otlp_fast._decoded_row(s, resource, scope, fmt, True))
    return rows, missing


_GROUP_ROWS = _otlp_fast._group_rows


def _files() -> list[Path]:
    return [p for d in DIRS if d.exists() for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix not in (".md", "") and p.name != "LICENSE"]


def _collect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if SPANS:
        return
    monkeypatch.setattr(_otlp_fast, "_map", _checked)  # spans mapped one by one (upb, orjson walked in Python)
    monkeypatch.setattr(_otlp_fast, "_group_rows", _checked_group)  # spans the native decoders gave
    for p in _files():
        try:
            read_traces(str(p))
        except AssertionError:
            raise
        except Exception:  # files no loader reads are another test's business
            pass
    bench = bench_module("bench_load")
    docs = list(bench.documents(600, seed=5, per_export=100))
    import orjson

    (tmp_path / "bench.jsonl").write_bytes(b"\n".join(orjson.dumps(d) for d in docs))
    read_traces(str(tmp_path / "bench.jsonl"))
    for i, d in enumerate(docs):
        (tmp_path / f"b{i}.pb").write_bytes(bench.to_proto(d).SerializeToString())
        read_traces(str(tmp_path / f"b{i}.pb"))


@pytest.mark.skipif(not _otlp_fast.__file__.endswith(".py"), reason="compiled module: _map is not patchable")
def test_native_map_equals_python_map_on_every_span(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in COUNTS:
        COUNTS[k] = 0
    SPANS.clear()
    _collect(monkeypatch, tmp_path)
    assert len(SPANS) >= 1280  # 88 fixture spans reach _map, and the benchmark's 1200
    assert COUNTS["c"] >= 1200, COUNTS  # the benchmark's 1200 spans (JSON + protobuf) are all mapped in C


# -------------------------------------------------------------------- generated attribute dicts

_KEYS = [
    "openinference.span.kind", "llm.model_name", "llm.provider", "llm.system", "llm.invocation_parameters",
    "llm.input_messages.0.message.role", "llm.input_messages.0.message.content", "llm.input_messages.1.message.role",
    "llm.input_messages.1.message.content", "llm.input_messages.1.message.tool_call_id",
    "llm.output_messages.0.message.role", "llm.output_messages.0.message.content",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
    "llm.output_messages.0.message.tool_calls.1.tool_call.function.name",
    "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "llm.cost.total",
    "input.value", "output.value", "input.mime_type", "output.mime_type", "session.id", "user.id", "tag.tags", "metadata",
    "tool.name", "tool.description", "tool.parameters", "retrieval.documents.0.document.content",
    "retrieval.documents.0.document.id", "retrieval.documents.1.document.score", "retrieval.documents.1.document.metadata",
    "gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "gen_ai.tool.description", "gen_ai.tool.type", "gen_ai.retrieval.documents",
    "gen_ai.conversation.id", "gen_ai.agent.name", "http.method", "service.name", "custom.key",
]
_text = st.text(max_size=6)
_json_texts = st.sampled_from([
    '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    '[{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}}]}]',
    '{"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}]}',
    '{"messages": [{"role": "tool", "content": "r", "tool_call_id": "c9"}]}',
    '[{"role": "user", "parts": [{"type": "reasoning", "content": "r"}, {"content": "x"}, {"type": 3, "content": "y"}, {}]}]',
    '[{"role": "assistant", "parts": [{"type": "tool_call", "name": "", "arguments": "{}"}, {"type": "tool_call", "id": 5}]}]',
    '[{"role": "user", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"r": 1}}]}]',
    '[{"role": null, "parts": []}, {"role": 2, "parts": "ab"}, {"role": "User", "parts": [1, "s", null, [2]]}, 7, "m"]',
    '[{"role": "user", "content": "no parts"}, {"role": "user", "parts": null}]', '[{"parts": {"type": "text"}}]',
    '{"role": "user", "parts": [{"type": "text", "content": "one message"}]}', '[{"type": "text", "content": "sys"}]',
    '[{"id": "d", "content": "c", "score": 0.5}]', '[{"page_content": "p", "metadata": {"id": 3}}]',
    '{"type": "tool", "data": {"content": "out"}}', '{"a": 1}', '["t1", "t2"]', "[1, 2", "{", "[]", "{}", "LLM", "llm",
    "TOOL", "tool", "RETRIEVER", "chat", "execute_tool", "retrieval", "invoke_agent", "user", "assistant", "SYSTEM",
])
_values = st.one_of(st.none(), st.just(""), _text, _json_texts, st.integers(-2, 3), st.floats(allow_nan=False, width=32),
                    st.booleans(), st.lists(st.one_of(st.integers(0, 3), _text), max_size=2),
                    st.dictionaries(_text, st.integers(0, 2), max_size=2))
_kinds = st.sampled_from([None, "SPAN_KIND_CLIENT", "SPAN_KIND_SERVER", "client", "SpanKind.PRODUCER", "3",
                          "SPAN_KIND_9"])  # str | None, as typed (a compiled _map_py checks it)
_resources = st.sampled_from([{}, {"service.name": "svc"}, {"service.name": 3, "k": "v"}, {"x": None}])


def _args(a: dict[str, Any], status: str, err: Any, kind: Any, resource: dict[str, Any], scope: Any, fmt: str) -> tuple[Any, ...]:
    return (a, "a" * 32, "b" * 16, None, "span", 1_700_000_000_000_000, 1_700_000_000_500_000, status, err, kind,
            resource, scope, fmt)


@FUZZ
@given(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=14), st.sampled_from(["ok", "error", "unset"]),
       st.one_of(st.none(), _text), _kinds, _resources, st.one_of(st.none(), st.just(""), _text),
       st.sampled_from(["otlp_json", "otlp_proto"]))
def test_native_map_on_generated_attributes(a: dict[str, Any], status: str, err: Any, kind: Any, resource: dict[str, Any],
                                            scope: Any, fmt: str) -> None:
    _map_both(_args(a, status, err, kind, resource, scope, fmt))


@pytest.mark.skipif(not _otlp_fast.__file__.endswith(".py"), reason="compiled module: _map is not patchable")
@FUZZ
@given(st.data())
def test_native_map_on_real_spans_mutated(data: st.DataObject) -> None:
    if not SPANS:
        with pytest.MonkeyPatch.context() as m:
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                _collect(m, Path(d))
    args = list(data.draw(st.sampled_from(SPANS)))
    a = dict(args[0])
    for k in data.draw(st.lists(st.sampled_from(sorted(a) or ["x"]), max_size=3)):
        a.pop(k, None)
    for k in list(a)[: data.draw(st.integers(0, 3))]:
        a[k] = data.draw(_values)
    a.update(data.draw(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=3)))
    args[0] = a
    if data.draw(st.booleans()):
        args[7] = data.draw(st.sampled_from(["ok", "error", "unset"]))
    _map_both(tuple(args))


def test_native_map_bails_like_python() -> None:
    """Keys the port never maps (another convention's) go to the reference (None) in both; a helper's
    error is the error of both; the port's own limits hand the span to _map_py (NotImplemented)."""
    base = _args({"openinference.span.kind": "LLM", "llm.model_name": "m"}, "ok", None, None, {}, None, "otlp_json")
    assert _map_both(base)[4] == "llm"
    assert NATIVE_MAP(*_args({"traceloop.entity.name": "x"}, "ok", None, None, {}, None, "otlp_json")) is None
    assert NATIVE_MAP(*_args({"llm.invocation_parameters": "{}"}, "ok", None, None, {}, None, "otlp_json")) is None
    assert _map_both(_args({"llm.token_count.total": float("inf")}, "ok", None, None, {}, None, "otlp_json")) == ("raised", "OverflowError")
    _map_both(_args({"input.value": '{"messages": [1]}', "openinference.span.kind": "LLM",  # a malformed request value
                     "llm.input_messages.0.message.content": "q", "llm.system": "s"}, "ok", None, None, {}, None, "j"))
    assert NATIVE_MAP(*_args([], "ok", None, None, {}, None, "j")) is NotImplemented  # attributes not a dict: _map_py decides
    with pytest.raises(TypeError):
        NATIVE_MAP(1, 2)


class _Str(str):
    pass


@given(st.lists(st.one_of(st.none(), _text, st.integers(), st.floats(), st.builds(_Str, _text), st.just(b"x")), max_size=8))
def test_only_text_equals_the_python_check(vals: list[Any]) -> None:
    """The frame build's text-column check (``_read._only_text``) natively: exactly str or None, as
    ``frozenset((str, NoneType)).issuperset(map(type, vals))`` says."""
    assert _otlp_fast.NATIVE.only_text(vals) is frozenset((str, type(None))).issuperset(map(type, vals))


@given(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(), st.booleans(), st.just(1.0)), max_size=8))
def test_int_column_equals_the_python_conversion(vals: list[Any]) -> None:
    """The frame build's int columns (``_read._int_array``) with the native ``int_column`` and without it."""
    import pandas as pd

    from llmops_nb.loaders import _read

    def convert() -> Any:
        try:
            return _read._int_array(list(vals))
        except Exception as e:  # the same error either way
            return type(e).__name__

    native = convert()
    saved = _read._NATIVE_HELPERS.get("int_column", False)
    _read._NATIVE_HELPERS["int_column"] = None
    try:
        plain = convert()
    finally:
        _read._NATIVE_HELPERS["int_column"] = saved
    if isinstance(plain, str):
        assert native == plain
    else:
        pd.testing.assert_extension_array_equal(native, plain)
        assert native._data.flags.writeable and native._mask.flags.writeable


@given(st.lists(st.one_of(st.tuples(_values, _values, _values), st.tuples(_values, _values), st.lists(_values, min_size=3,
                                                                                                      max_size=3)), max_size=6))
def test_transpose_equals_zip(rows: list[Any]) -> None:
    """``SpanColumns.from_tuples``' native transpose: the columns ``map(list, zip(*rows))`` gives when
    every row is a tuple of every column, else None (the caller zips)."""
    got = _otlp_fast.NATIVE.transpose(rows, 3)
    if all(type(r) is tuple and len(r) == 3 for r in rows):
        assert got == [list(c) for c in zip(*rows)] if rows else got == [[], [], []]
    else:
        assert got is None


_doc_value = st.one_of(st.none(), _text, st.integers(), st.integers(min_value=10**400, max_value=10**401), st.floats(),
                       st.booleans(), st.builds(_Str, _text), st.lists(_text, max_size=2), st.dictionaries(_text, _text, max_size=2))


@given(st.dictionaries(st.sampled_from(["id", "content", "score", "metadata", "other"]), _doc_value, max_size=5),
       st.booleans())
def test_native_documents_equal_the_python_helpers(d: dict[str, Any], oi: bool) -> None:
    """A retrieval document built natively (``_otlp_pb.document``) is the dict the Python helper
    builds (``otlp._oi_document`` / ``_genai_document``), types and key order included, or the same error."""
    from llmops_nb.loaders import otlp

    if oi:
        d = {f"document.{k}": v for k, v in d.items()}
    helper = otlp._oi_document if oi else otlp._genai_document
    native = _outcome(_otlp_fast.NATIVE.document, (d, int(oi), helper))
    python = _outcome(helper, (d,))
    _same(native, python)
    _same(_outcome(_otlp_fast.NATIVE.document, ("not a dict", 0, otlp._genai_document)),
          _outcome(otlp._genai_document, ("not a dict",)))



_tool_obj = st.dictionaries(st.sampled_from(["type", "data", "content", "id"]),
                            st.one_of(st.just("tool"), _text, st.dictionaries(st.sampled_from(["content", "x"]), _text, max_size=2)),
                            max_size=3)


@given(st.one_of(_text, st.builds(lambda t: '{"' + t, _text), _tool_obj.map(json.dumps),
                 _tool_obj.map(lambda d: json.dumps(d).replace('"type"', '"\\u0074ype"'))))
def test_tool_message_content_skips_the_parse_only_when_no_key_can_be_type(v: str) -> None:
    """A tool output is parsed for a LangChain ToolMessage only when its text holds "type" or a \\u
    escape; the result is the same as always parsing it (escaped keys included)."""
    from llmops_nb.loaders import otlp

    def always_parse(x: str) -> Any:
        if x.startswith('{"'):
            d = otlp.maybe_json_obj(x)
            if isinstance(d, dict) and d.get("type") == "tool" and isinstance(d.get("data"), dict) and "content" in d["data"]:
                return d["data"]["content"]
        return x

    assert otlp._tool_message_content(v) == always_parse(v)
    assert otlp._tool_message_content('{"\\u0074ype": "tool", "data": {"content": "ok"}}') == "ok"
