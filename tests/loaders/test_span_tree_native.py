"""The native span-tree check (``_otlp_pb.span_tree``) that lets ``_read._finish`` skip its id,
duplicate and cycle checks: None exactly when the ids are plain text, the (trace_id, span_id) keys
unique and the parent links free of cycles (checked against a plain Python definition), and
``_finish`` / ``read_traces`` give the same frame and the same problems with it and without it
(``LLMOPS_NB_NATIVE=0`` or no build) on clean and dirty spans alike.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmops_nb as lo
from llmops_nb.loaders import LoadError, _read

SPAN_TREE = _read._native_helper("span_tree")
pytestmark = pytest.mark.skipif(SPAN_TREE is None, reason="native module not built (no C compiler?) or LLMOPS_NB_NATIVE=0")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Str(str):
    pass


def _clean(tids: list[Any], sids: list[Any], parents: list[Any]) -> bool:
    """What ``span_tree`` returns None for, in plain Python: ids exact non-empty str (a parent: None or
    exact str, "" for none) not starting with "[" or "{", keys unique, no walk up the parents
    longer than the number of spans (a cycle)."""

    def plain(v: Any, none_ok: bool) -> bool:
        if v is None or v == "":
            return none_ok and (v is None or type(v) is str)
        return type(v) is str and v[0] not in "[{"

    if not all(plain(t, False) and plain(s, False) and plain(p, True) for t, s, p in zip(tids, sids, parents)):
        return False
    keys = list(zip(tids, sids))
    if len(set(keys)) < len(keys):
        return False
    row = {k: i for i, k in enumerate(keys)}
    for i in range(len(keys)):
        cur: int | None = i
        for _ in range(len(keys) + 1):
            if cur is None:
                break
            p = parents[cur]
            cur = row.get((tids[cur], p)) if p else None
        else:
            return False
    return True


def _check(tids: list[Any], sids: list[Any], parents: list[Any]) -> str | None:
    got = SPAN_TREE(tids, sids, parents)
    assert (got is None) == _clean(tids, sids, parents), (tids, sids, parents, got)
    return got  # type: ignore[no-any-return]


CASES: dict[str, tuple[list[Any], list[Any], list[Any], str | None]] = {
    "empty": ([], [], [], None),
    "tree": (["t", "t", "t", "u"], ["a", "b", "c", "a"], [None, "a", "b", None], None),
    "child before parent": (["t", "t", "t"], ["c", "b", "a"], ["b", "a", None], None),
    "parent outside": (["t", "t"], ["a", "b"], ["gone", "a"], None),
    "empty parent": (["t", "t"], ["a", "b"], ["", "a"], None),
    "same span ids in other traces": (["t", "u", "t", "u"], ["a", "a", "b", "b"], ["b", None, None, "a"], None),
    "cross-trace links are no cycle": (["t", "u"], ["a", "b"], ["b", "a"], None),
    "duplicate": (["t", "t"], ["a", "a"], [None, None], "duplicate"),
    "duplicate, other objects": (["t", "".join(["t"])], ["ab", "".join(["a", "b"])], [None, None], "duplicate"),
    "self parent": (["t"], ["a"], ["a"], "cycle"),
    "2-cycle": (["t", "t", "t"], ["a", "b", "r"], ["b", "a", None], "cycle"),
    "long cycle": (["t"] * 50, [f"s{i}" for i in range(50)], [f"s{(i + 1) % 50}" for i in range(50)], "cycle"),
    "cycle hanging off a tree": (["t"] * 4, ["r", "a", "b", "c"], [None, "c", "a", "b"], "cycle"),
    "missing trace_id": ([None, "t"], ["a", "b"], [None, None], "ids"),
    "empty span_id": (["t", "t"], ["a", ""], [None, None], "ids"),
    "int id": (["t", "t"], [1, "b"], [None, None], "ids"),
    "int parent": (["t", "t"], ["a", "b"], [None, 7], "ids"),
    "str subclass": (["t", _Str("t")], ["a", "b"], [None, None], "ids"),
    "list text": (["t", "t"], ["[1, 2]", "b"], [None, None], "ids"),
    "object text parent": (["t", "t"], ["a", "b"], [None, "{'id': 7}"], "ids"),
    "opener only": (["{", "t"], ["a", "b"], [None, None], "ids"),
    "non-ASCII": (["t\u00e9", "t\u00e9", "\U0001f600"], ["\u4e2d", "x", "\u4e2d"], [None, "\u4e2d", None], None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cases(name: str) -> None:
    tids, sids, parents, want = CASES[name]
    assert _check(tids, sids, parents) == want


_ID = st.sampled_from(["a", "b", "c", "d", "\u00e9", "a" * 20])
_ODD = st.one_of(st.none(), st.just(""), st.integers(0, 3), st.just("[1]"), st.just("{x"), st.builds(_Str, _ID))


def _cols(rows: list[tuple[Any, Any, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


_ROW = st.tuples(st.one_of(st.sampled_from(["t", "u"]), _ODD), st.one_of(_ID, _ODD), st.one_of(_ID, st.none(), _ODD))
_PLAIN_ROW = st.tuples(st.sampled_from(["t", "u"]), _ID, st.one_of(_ID, st.none(), st.just(""), st.just("gone")))


@FUZZ
@given(st.lists(st.one_of(_PLAIN_ROW, _PLAIN_ROW, _PLAIN_ROW, _ROW), max_size=10))
def test_equals_the_python_definition(rows: list[tuple[Any, Any, Any]]) -> None:
    _check(*_cols(rows))


def test_large_inputs_stay_linear_and_exact() -> None:
    """Ids as producers write them (counters, hex, UUIDs), 50k spans in long chains: no probe budget
    runs out on ordinary keys; a cycle through all of them is found."""
    import uuid

    n = 50_000
    for make in (str, lambda i: f"{i * 2654435761 % 2**64:016x}", lambda i: str(uuid.UUID(int=i))):
        sids = [make(i) for i in range(n)]
        chain = [None] + sids[:-1]
        assert SPAN_TREE(["t"] * n, sids, chain) is None
        assert SPAN_TREE([str(i % 7) for i in range(n)], [make(i // 7) for i in range(n)], [None] * n) is None
        assert SPAN_TREE(["t"] * n, sids, sids[1:] + sids[:1]) == "cycle"


def _hash(s: str) -> int:
    """``text_hash`` of ``_otlp_pb.c`` for an ASCII str, to craft colliding keys."""
    m = 2**64 - 1
    data = s.encode("ascii")
    h = 0x9E3779B97F4A7C15 ^ len(data)
    for k in range(0, len(data), 8):
        h = ((h ^ int.from_bytes(data[k:k + 8], "little")) * 0xFF51AFD7ED558CCD) & m
        h ^= h >> 29
    return h


def _key_hash(t: str, s: str) -> int:
    m = 2**64 - 1
    x = ((_hash(t) * 0x9E3779B97F4A7C15) & m) ^ _hash(s)
    x ^= x >> 32
    x = (x * 0xD6E8FEB86659FD93) & m
    return x ^ (x >> 32)


def test_crafted_collisions_are_left_to_python() -> None:
    """Keys crafted to share a slot (as a hostile file could hold) spend the probe budget: the check
    says "crowded" after O(n) probes instead of going quadratic, and the Python checks decide."""
    n = 64
    sids = [s for s in (f"{i:x}" for i in range(200_000)) if _key_hash("t", s) & 127 == 0][:n]
    assert len(sids) == n
    assert SPAN_TREE(["t"] * n, sids, [None] * n) == "crowded"
    assert SPAN_TREE(["t"] * (n // 2), sids[: n // 2], [None] * (n // 2)) is None  # a short cluster fits the budget
    rows = [{"trace_id": "t", "span_id": s, "name": "x"} for s in sids]
    assert _both_ways(lambda: lo.read_traces(rows, format="records", estimate_cost=False))[0]["span_id"].tolist() == sids


def test_no_leak_on_any_path() -> None:
    """Every path (clean, each finding, bad arguments) frees what it allocates (tracemalloc traces
    PyMem) and keeps no reference to the ids (strings made here, shared with nothing else)."""
    import sys

    n = 300
    t = [f"trace{i // 10}" for i in range(n)]
    s = [f"span{i}" for i in range(n)]
    up = [None if i % 10 == 0 else f"span{i - 1}" for i in range(n)]
    args = [(t, s, up), (t + [f"trace{0}"], s + [f"span{0}"], up + [None]), ([f"trace{n}"] * n, s, [f"span{(i + 1) % n}" for i in range(n)]),
            (t, s[:-1] + [f"[{n}]"], up), (t, s[:-1] + [n * 1000], up), (t, s, up[:-1] + [f"span{n - 1}"])]
    args += [c[:3] for c in CASES.values()]
    bad = [(t, s), (t, s, up[:-1]), (tuple(t), s, up)]

    def run() -> None:
        for a in args:
            SPAN_TREE(*a)
        for b in bad:
            try:
                SPAN_TREE(*b)
            except (TypeError, ValueError):
                continue
            raise AssertionError("accepted bad arguments")

    mine = [x for a in args[:6] for col in a for x in col if isinstance(x, str)] + [col for a in args for col in a]
    refs = [sys.getrefcount(x) for x in mine]
    run()
    tracemalloc.start()
    try:
        run()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            run()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 4096, after - before
    assert [sys.getrefcount(x) for x in mine] == refs
    assert [SPAN_TREE(*a) for a in args[:6]] == [None, "duplicate", "cycle", "ids", "ids", "cycle"]


def test_wrong_arguments() -> None:
    with pytest.raises(ValueError, match="columns of 1, 2 and 1 rows"):
        SPAN_TREE(["t"], ["a", "b"], [None])
    with pytest.raises(TypeError):
        SPAN_TREE(("t",), ["a"], [None])


# --- _finish and read_traces: the same with the native check and without it ---


class _Raised:
    def __init__(self, e: LoadError) -> None:
        self.message = str(e)


def _both_ways(load: Any) -> Any:
    """``load()`` with the native span_tree, then with the helper off (as ``LLMOPS_NB_NATIVE=0`` or no
    build leaves it): the same frame and report, or the same error; the first result."""
    calls: list[Any] = []

    def spy(*a: Any) -> Any:
        calls.append(r := SPAN_TREE(*a))
        return r

    outcomes = []
    for helper in (spy, None):
        saved = _read._NATIVE_HELPERS.get("span_tree", False)
        _read._NATIVE_HELPERS["span_tree"] = helper
        try:
            outcomes.append(load())
        except LoadError as e:
            outcomes.append(_Raised(e))
        finally:
            _read._NATIVE_HELPERS["span_tree"] = saved
    native, plain = outcomes
    assert calls or isinstance(native, _Raised), "the native check did not run"  # (a loader may raise before it)
    if isinstance(plain, _Raised):
        assert isinstance(native, _Raised) and native.message == plain.message
        return native
    got, want = (native, plain) if isinstance(plain, tuple) else ((native,), (plain,))
    for a, b in zip(got, want):
        pd.testing.assert_frame_equal(a, b)
    return got


def _finish_both(rows: list[dict[str, Any]], errors: str) -> Any:
    def load() -> Any:
        acc = _read._Columns()
        acc.extend([dict(r) for r in rows], "records", "f.jsonl", "record 0")
        problems: list[dict[str, Any]] = []
        df = _read._finish(acc, errors, problems)
        return df, pd.DataFrame(problems, columns=["file", "record", "error", "action"])

    return _both_ways(load)


@settings(FUZZ, max_examples=100)
@given(st.lists(st.one_of(_PLAIN_ROW, _PLAIN_ROW, _ROW), min_size=1, max_size=8), st.lists(st.sampled_from(["x", "y"]), min_size=8, max_size=8),
       st.sampled_from(["skip", "raise"]))
def test_finish_is_the_same_with_and_without_it(rows: list[tuple[Any, Any, Any]], names: list[str], errors: str) -> None:
    _finish_both([{"trace_id": t, "span_id": s, "parent_span_id": p, "name": nm} for (t, s, p), nm in zip(rows, names)],
                 errors)


T1, T2 = "5b8efff798038103d269b633813fc60c", "6c9f0009a9149214e37ac744924fd71d"


def _span(sid: str, parent: str | None = None, trace: str = T1, name: str = "op") -> dict[str, Any]:
    s = {"traceId": trace, "spanId": sid, "name": name, "startTimeUnixNano": "1544712660000000000",
         "endTimeUnixNano": "1544712661000000000", "attributes": [{"key": "llmops.kind", "value": {"stringValue": "llm"}}]}
    if parent:
        s["parentSpanId"] = parent
    return s


A, B, C, D = (f"{c * 16}" for c in "abcd")
OTLP_CASES = {
    "clean": [_span(A), _span(B, A), _span(C, B), _span(A, trace=T2), _span(B, A, trace=T2)],
    "parent not read": [_span(A, "ffffffffffffffff"), _span(B, A)],
    "same span twice": [_span(A), _span(B, A), _span(A)],
    "same id, other content": [_span(A), _span(B, A), _span(A, name="other")],
    "self parent": [_span(A, A), _span(B, A)],
    "2-cycle": [_span(A, B), _span(B, A), _span(C)],
    "long cycle": [_span(f"{i + 1:016x}", f"{(i + 1) % 40 + 1:016x}") for i in range(40)],
    "same ids across traces": [_span(A, B), _span(B, A, trace=T2), _span(B)],
    "cycle and duplicate": [_span(A, B), _span(B, A), _span(A, B, name="again")],
    "missing span id": [_span(A), {k: v for k, v in _span(B, A).items() if k != "spanId"}],
}


@pytest.mark.parametrize("name", list(OTLP_CASES))
@pytest.mark.parametrize("errors", ["skip", "raise"])
def test_read_traces_otlp(tmp_path: Path, name: str, errors: str) -> None:
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": OTLP_CASES[name]}]}]}
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(doc))
    got = _both_ways(lambda: lo.read_traces(p, errors=errors))
    quiet = {"clean": 5, "parent not read": 2, "same span twice": 2, "same ids across traces": 3}  # rows, nothing to report
    if name in quiet:
        assert len(got[0]) == quiet[name] and (errors == "raise" or len(got[1]) == 0)
    elif errors == "skip":
        assert len(got[1]) > 0
    else:
        assert isinstance(got, _Raised)


RECORD_CASES = {
    "int ids": [{"trace_id": 1, "span_id": 2}, {"trace_id": 1, "span_id": 3, "parent_span_id": 2}],
    "None ids": [{"trace_id": None, "span_id": "a"}, {"trace_id": "t", "span_id": None}, {"trace_id": "t", "span_id": "b"}],
    "list text": [{"trace_id": "t", "span_id": "[1, 2]"}, {"trace_id": "t", "span_id": "b", "parent_span_id": "{'id': 7}"}],
    "opener, not a container": [{"trace_id": "t", "span_id": "[abc"}, {"trace_id": "t", "span_id": "b", "parent_span_id": "[abc"}],
    "list id": [{"trace_id": "t", "span_id": ["a"]}, {"trace_id": "t", "span_id": "b"}],
    "clean": [{"trace_id": "t", "span_id": "a"}, {"trace_id": "t", "span_id": "b", "parent_span_id": "a"}],
}


@pytest.mark.parametrize("name", list(RECORD_CASES))
@pytest.mark.parametrize("errors", ["skip", "raise"])
def test_read_traces_records(name: str, errors: str) -> None:
    _both_ways(lambda: lo.read_traces([dict(r, name="x") for r in RECORD_CASES[name]], format="records", errors=errors,
                                      estimate_cost=False))


PRODUCERS = Path(__file__).resolve().parent / "data" / "producers"


@pytest.mark.parametrize("producer", ["otel_genai_events", "google_adk"])
@pytest.mark.parametrize("files", [("spans.otlp.json", "logs.otlp.json"), ("logs.otlp.json",),
                                   ("spans.otlp.json", "logs.otlp.json", "spans.otlp.pb")])
def test_read_traces_with_log_records(producer: str, files: tuple[str, ...]) -> None:
    """Log records fold into their spans before the duplicate and cycle checks (partial rows dropped,
    or reported when their span is not read): the same frame and report either way."""
    paths = [PRODUCERS / producer / "payload" / f for f in files]
    df, report = _both_ways(lambda: lo.read_traces(paths, errors="skip"))
    if len(files) == 2:  # every log record found its span
        assert len(df) > 0 and len(report) == 0
    elif len(files) == 1:  # none did
        assert len(df) == 0 and len(report) > 0
