"""The fast OTLP mapping gives the same frame as the reference mapping on every fixture.

``map_span`` picks each aliased field (model, tokens, input, session...) in one pass over a
span's attributes (``otlp._aliased``) instead of one lookup per alias key (``otlp._first`` over
``keys(field)``, the reference), and ``check_id`` returns valid lowercase hex ids at once. Here
the reference is put back (monkeypatched) and the frames of every trace fixture under
../shared/fixtures and every committed producer trace are compared, cell for cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from llmops_nb.loaders import otlp, read_traces
from llmops_nb.loaders._aliases import keys

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied
PRODUCERS = ROOT / "tests" / "loaders" / "data" / "producers"
DIRS = [FIXTURES / d for d in ("otlp-examples", "otel-genai-semconv", "openinference", "any-agent", "langfuse", "langsmith",
                               "datadog", "real")] + [PRODUCERS]


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
    fast = {p: _read(p) for p in files}
    monkeypatch.setattr(otlp, "_aliased", _reference_aliased)
    monkeypatch.setattr(otlp, "check_id", _reference_check_id)
    n_spans = 0
    for p in files:
        ref = _read(p)
        _same(fast[p], ref)
        if isinstance(ref, pd.DataFrame):
            n_spans += len(ref)
        elif isinstance(ref, tuple):
            n_spans += sum(len(x) for x in ref if isinstance(x, pd.DataFrame))
    assert n_spans > 500 and len(CALLS) > 200  # the reference mapped the OTLP spans (242 today), not only empty files


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
