"""The fast OTLP mapping gives the same frame as the reference mapping on every fixture.

Two layers are fast: the column-wise mapping (``loaders/_otlp_fast.py``: keys classified once,
OpenInference and gen_ai spans mapped straight from the export into columns, anything else by
the reference per span) and, inside the reference, ``map_span``'s one-pass alias pick
(``otlp._aliased`` instead of ``otlp._first`` over ``keys(field)``) and ``check_id``'s fast path
for valid lowercase hex ids. Here the reference is put back (monkeypatched: every span through
``iter_otlp_*`` + ``map_span`` with the slow pick, times as datetime objects) and the frames of every trace fixture under
../shared/fixtures, every committed producer trace, spans of the load benchmark's generator and
all of these as OTLP protobuf are compared, cell for cell (protobuf: through the native decoder
``loaders/_otlp_pb.c`` when it is built, and through upb in Python; tests/loaders/test_otlp_native.py
fuzzes the decoder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fixture_paths import bench_module

from llmops_nb.loaders import _otlp_fast, otlp, read_traces
from llmops_nb.loaders._aliases import keys

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied
PRODUCERS = ROOT / "tests" / "loaders" / "data" / "producers"
DIRS = [FIXTURES / d for d in ("otlp-examples", "otel-genai-semconv", "otel-openai-cassettes", "openinference", "any-agent",
                               "langfuse", "langsmith", "datadog", "real")] + [PRODUCERS]


FAST: list[int] = []  # spans of each OTLP batch mapped


def _count_fast(m: pytest.MonkeyPatch) -> None:
    """Count the spans of every batch the fast path mapped whole (SpanColumns.canonical)."""
    from llmops_nb.loaders._common import SpanColumns

    orig = SpanColumns.from_tuples.__func__  # type: ignore[attr-defined]

    def counted(cls: Any, rows: Any, canonical: bool = False) -> Any:
        FAST.append(len(rows))
        return orig(cls, rows, canonical)

    m.setattr(SpanColumns, "from_tuples", classmethod(counted))
    m.setattr(_otlp_fast, "FALLBACK_SPANS", 0)


def _fast_spans() -> int:
    """Spans the fast path mapped since ``_count_fast`` (call it inside the same monkeypatch context)."""
    return sum(FAST) - _otlp_fast.FALLBACK_SPANS


def _use_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every span through the reference: ``iter_otlp_*`` records + ``map_span`` with the slow pick,
    times as datetimes (``_otlp_fast.REFERENCE``, which also holds when the module is compiled)."""
    monkeypatch.setattr(_otlp_fast, "REFERENCE", True)
    monkeypatch.setattr(otlp, "_aliased", _reference_aliased)
    monkeypatch.setattr(otlp, "check_id", _reference_check_id)


def _files() -> list[Path]:
    return [p for d in DIRS if d.exists() for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix not in (".md", "") and p.name != "LICENSE"]


CALLS: list[int] = []


def _reference_aliased(a: Any) -> dict[str, tuple[int, str, Any]]:
    """The reference pick: ``_first(a, used, *keys(field))`` for each field, the key it used."""
    CALLS.append(1)
    best = {}
    for f in otlp._FIELDS:
        used: set[str] = set()
        v = otlp._first(a, used, *keys(f))
        if used:
            best[f] = (0, next(iter(used)), v)
    return best


def _reference_check_id(value: Any, nbytes: int, what: str, where: str, problem: Any, replacement: Any) -> Any:
    if type(value) is str:  # a str subclass never takes the fast path: the full validation decides
        value = _Text(value)
    return _slow_check_id(value, nbytes, what, where, problem, replacement)


_slow_check_id = otlp.check_id


class _Text(str):
    pass


def _read(path: Path) -> Any:
    try:
        return read_traces(str(path), errors="skip")
    except Exception as e:  # the same error either way
        return f"{type(e).__name__}: {e}"


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, tuple):
        assert type(b) is tuple and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def test_fast_mapping_equals_reference_on_every_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    if not any(str(p).startswith(str(FIXTURES)) for p in files):
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    FAST.clear()
    with monkeypatch.context() as m:
        _count_fast(m)
        fast = {p: _read(p) for p in files}
        mixed = [str(p) for p in files if p.suffix in (".json", ".jsonl") and "real" not in p.parts][:40]
        fast_mixed = read_traces(mixed, errors="skip", workers=1)  # OTLP among other formats: times switch to datetimes
        n_fast = _fast_spans()
    _use_reference(monkeypatch)
    _same(fast_mixed, read_traces(mixed, errors="skip", workers=1))
    assert fast_mixed[0]["source_format"].nunique() > 3
    n_spans = 0
    for p in files:
        ref = _read(p)
        _same(fast[p], ref)
        if isinstance(ref, pd.DataFrame):
            n_spans += len(ref)
        elif isinstance(ref, tuple):
            n_spans += sum(len(x) for x in ref if isinstance(x, pd.DataFrame))
    assert n_spans > 500 and len(CALLS) > 200  # the reference mapped the OTLP spans (242 today), not only empty files
    assert n_fast > 50  # and the fast path mapped OTLP spans of the fixtures itself (not all fell back)


def _otlp_docs() -> list[Any]:
    """Every OTLP/JSON export among the fixtures (files and JSONL lines), parsed."""
    import orjson

    docs = []
    for p in _files():
        if p.suffix not in (".json", ".jsonl"):
            continue
        try:
            data = p.read_bytes()
            lines = [data] if p.suffix == ".json" else [x for x in data.splitlines() if x.strip()]
            parsed = [orjson.loads(x) for x in lines]
        except (ValueError, OSError):
            continue
        docs += [d for d in parsed if otlp.is_otlp_json(d)]
    return docs


def test_fast_protobuf_mapping_equals_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = bench_module("bench_load")
    converted = [r for r in (bench.to_proto(d, strict=False) for d in _otlp_docs()) if r is not None]
    reqs = converted + [bench.to_proto(d) for d in bench.documents(3000, seed=5)]
    FAST.clear()
    with monkeypatch.context() as m:
        _count_fast(m)
        fast = [otlp.map_otlp_proto(r.SerializeToString()).rows() for r in reqs]
        n_fast = _fast_spans()
        m.setattr(_otlp_fast, "NATIVE", None)  # upb walked in Python (what runs without the C extension)
        upb = [otlp.map_otlp_proto(r.SerializeToString()).rows() for r in reqs]
    _use_reference(monkeypatch)
    ref = [[{**row, "latency_ms": None} for row in otlp.parse_otlp_proto(r.SerializeToString())] for r in reqs]
    assert fast == ref
    assert upb == ref
    assert n_fast >= 3000 and len(converted) > 5
    pd.testing.assert_frame_equal(read_traces(fast[-1]), read_traces(ref[-1]))


def test_fast_json_mapping_equals_reference_on_generated_spans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bench = bench_module("bench_load")
    path = tmp_path / "spans.jsonl"
    bench.generate(path, 3000, seed=7)
    FAST.clear()
    with monkeypatch.context() as m:
        _count_fast(m)
        _count_native(m)
        NATIVE.clear()
        fast = read_traces(str(path))
        assert _fast_spans() == 3000  # every generated span took the fast path
        assert sum(NATIVE) == (3000 if _otlp_fast.NATIVE_JSON is not None else 0)  # decoded natively when built
    _use_reference(monkeypatch)
    pd.testing.assert_frame_equal(fast, read_traces(str(path)))
    assert fast["kind"].value_counts().to_dict().keys() >= {"llm", "tool", "retriever", "chain", "agent"}


NATIVE: list[int] = []  # spans of each export the native OTLP/JSON decoder read (read_traces maps those natively)


def _count_native(m: pytest.MonkeyPatch) -> None:
    orig = _otlp_fast.native_export

    def counted(data: bytes, loads: Any) -> Any:
        doc = orig(data, loads)
        if doc is not None:
            NATIVE.append(sum(len(spans) for _, scopes in doc.groups for _, spans in scopes))
        return doc

    m.setattr(_otlp_fast, "native_export", counted)


@pytest.mark.skipif(_otlp_fast.NATIVE_JSON is None, reason="native OTLP/JSON decoder not built")
def test_native_json_equals_python_on_every_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every JSON fixture and generated exports (one document, JSONL, gzip, unicode kept or escaped)
    read with the native OTLP/JSON decoder and without it (orjson + the Python walk): the same frames
    (and the same errors); the decoder read the OTLP exports among them. The reference comparison of
    the default (native) path is test_fast_mapping_equals_reference_on_every_fixture."""
    import gzip
    import json

    bench = bench_module("bench_load")
    docs = list(bench.documents(1200, seed=9, per_export=300))
    docs[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] += [
        {"key": "unicode", "value": {"stringValue": "caf\u00e9 \U0001f600 \"q\" \\ \n"}},
        {"key": "big", "value": {"intValue": "123456789012345678901234567890"}},
        {"key": "nan", "value": {"doubleValue": "NaN"}}, {"key": "empty", "value": {}},
        {"key": "nested", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"arrayValue": {"values": [{"intValue": 1}]}}}]}}},
    ]
    (tmp_path / "one.json").write_text(json.dumps(docs[0]))
    (tmp_path / "escaped.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=True) for d in docs))
    (tmp_path / "unicode.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(d, ensure_ascii=False) for d in docs).encode()))
    lines = [json.dumps(d).encode() for d in docs]  # no known extension: lines split in memory (_json_lines), 2 bad
    (tmp_path / "exports.otlp").write_bytes(b"\n".join([lines[0], lines[1][:-9], b"{not json", *lines[2:]]))
    (tmp_path / "bad_utf8.jsonl").write_bytes(b"\n".join([lines[0], lines[1].replace(b"support", b"supp\xffrt", 1), lines[2]]))
    files = [p for p in _files() if p.suffix in (".json", ".jsonl", ".gz")] + sorted(tmp_path.iterdir())
    NATIVE.clear()
    with monkeypatch.context() as m:
        _count_native(m)
        native = {p: _read(p) for p in files}
    n_native = sum(NATIVE)
    NATIVE.clear()
    with monkeypatch.context() as m:
        _count_native(m)
        m.setattr(_otlp_fast, "NATIVE_JSON", None)
        python = {p: _read(p) for p in files}
    assert not NATIVE
    for p in files:
        _same(native[p], python[p])
    assert n_native >= 300 + 2 * 1200 + 40  # the generated spans and OTLP spans of the fixtures


def test_aliased_pick_order_and_empty_values() -> None:
    a = {"gen_ai.request.model": "", "llm.model_name": None, "gen_ai.response.model": "m2", "x": 1}
    used: set[str] = set()
    assert otlp._pick(otlp._aliased(a), used, "model") == otlp._first(a, (ref := set()), *keys("model"))
    assert used == ref


def test_check_id_fast_path_agrees() -> None:
    seen: list[Any] = []
    for v, n in (("5b8efff798038103d269b633813fc60c", 16), ("d269b633813fc60c", 8), ("0" * 16, 8), ("D269B633813FC60C", 8)):
        fast = otlp.check_id(v, n, "spanId", "s", lambda *a: seen.append(a), lambda: "r")
        assert fast == _slow_check_id(_Text(v), n, "spanId", "s", lambda *a: seen.append(a), lambda: "r")
        assert type(fast) is str


def test_big_int_hint_agrees_with_the_regex() -> None:
    from llmops_nb.loaders._read import _BIG_INT, _has_big_int

    cases = [b'{"id": 123456789012345678901}', b'[ -123456789012345678901]', b'{"a":\n\t 99999999999999999999}',
             b'{"t": "1735689600000000000"}', b'{"id": "12345678901234567890123"}', b'{"a": 1234567890123456789}',
             b'{"a": [1, 2,123456789012345678901234]}', b'{"a": "x, 123456789012345678901"}', b"", b"[]"]
    for data in cases:
        assert _has_big_int(data) == (_BIG_INT.search(data) is not None), data
    assert sum(_has_big_int(d) for d in cases) == 5


def test_span_columns_to_arrow_equals_the_receivers_rows() -> None:
    from llmops_nb.tracing._otel import finish_row, rows_to_arrow

    bench = bench_module("bench_load")
    docs = [*_otlp_docs(), *bench.documents(600, seed=3, per_export=200)]
    n = n_us = 0
    us = {"times_us": True}  # times kept as microseconds (what the receiver asks for): the same table
    for doc in docs:
        r = bench.to_proto(doc, strict=False)
        pairs = [(otlp.map_otlp_json(doc), otlp.map_otlp_json(doc, us))]
        pairs += [(otlp.map_otlp_proto(r), otlp.map_otlp_proto(r, us))] if r else []
        for cols, cols_us in pairs:
            if not cols.n:
                continue
            rows = [finish_row({k: v for k, v in row.items() if k != "latency_ms"}) for row in cols]
            ref = rows_to_arrow(rows)
            assert cols.to_arrow().equals(ref)
            assert cols_us.to_arrow().equals(ref)
            n += cols.n
            n_us += cols_us.n if cols_us.times_us else 0
    assert n > 1000 and n_us > 1000


def test_cycle_check_skips_only_graphs_without_cycles() -> None:
    """``_break_cycles`` returns at once when peeling finds no cycle: on random parent links, every
    cycle is still cut, and a graph without one is left as it is."""
    import random

    from llmops_nb.loaders._read import _break_cycles, _Columns

    def has_cycle(par: dict[str, str | None]) -> bool:
        for start in par:
            seen, cur = set(), start
            while cur is not None and cur in par:
                if cur in seen:
                    return True
                seen.add(cur)
                cur = par[cur]
        return False

    rng = random.Random(4)
    n_cyclic = 0
    for _ in range(300):
        n = rng.randint(1, 12)
        ids = [f"s{i}" for i in range(n)]
        par = {s: rng.choice([None, "", "gone", *ids]) for s in ids}
        acc = _Columns()
        acc.cols["parent_span_id"] = list(par.values())
        acc.units, acc.starts, acc.n = [("f", None)], [0], n
        before = dict(par)
        problems: list[Any] = []
        _break_cycles(acc, {("t", s): i for i, s in enumerate(ids)}, "skip", problems)
        after = dict(zip(ids, acc.cols["parent_span_id"]))
        assert not has_cycle({k: v or None for k, v in after.items()})
        cyclic = has_cycle({k: v or None for k, v in before.items()})
        n_cyclic += cyclic
        assert (after == before) == (not cyclic) and bool(problems) == cyclic
    assert 30 < n_cyclic < 270


def test_to_arrow_of_text_columns_with_odd_values_equals_the_frame_path() -> None:
    """Text columns are built without a per-value type check: a number, NaN, NA or bytes among
    them gives the table schema.to_arrow gives for the same frame (the pandas path), as before."""
    import pandas as pd

    from llmops_nb.loaders._common import SPAN_NAMES, SpanColumns
    from llmops_nb.schema import SPANS, to_arrow

    base = {"trace_id": "a" * 32, "span_id": "b" * 16, "name": "x", "kind": "llm", "status": "ok"}
    for odd in (5, float("nan"), pd.NA, b"bytes", "plain"):
        rows = [dict(base, span_id=f"{i:016x}", model=odd if i == 1 else "m") for i in range(3)]
        cols = SpanColumns({k: [r.get(k) for r in rows] for k in SPAN_NAMES}, 3, canonical=True)
        want = to_arrow(pd.DataFrame({k: pd.Series(cols.columns[k], dtype=object) for k in SPAN_NAMES}), SPANS)
        assert cols.to_arrow().equals(want), odd
