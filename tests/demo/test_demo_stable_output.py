"""The simulated data for a given seed and settings is byte-identical from release to release (and
across refactors of the generator): analyses, notebooks and benchmarks quote its figures."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from llmops_nb.demo import generate

CASES = {
    "default": {"n_traces": 300, "seed": 7},
    "settings": {"n_traces": 250, "seed": 3, "rates": {"over_refusal": 1.0, "pii_echo": (0.9, 0.2)}, "mean_turns": 2.5,
                 "long_context_share": 0.3, "injection_share": 0.2, "noise": 2.0, "start": "2026-01-05T08:00:00Z",
                 "days": 3},
    "chunked": {"n_traces": 5003, "seed": 11},  # past the 5,000-trace Arrow chunk boundary
}
# measured on the generator before it was split into named steps; a change here changes the data
EXPECTED = {
    "default": "5089f6fd870f5044ef4a70ff9032252f5a80a8c938699ed711ac08244c1b0ba1",
    "settings": "89d215851a18d458954c7ac3126b9c369b53349691e67d5ff4cb199c4fe9bd97",
    "chunked": "26ea837b991615e48f3e9959d91143a5f8d5e3ebc9730840a73ddc16da818708",
}


def fingerprint(data) -> str:
    """sha256 over every value of the spans (column by column, with the Arrow types), the truth,
    the plan and the config."""
    h = hashlib.sha256()
    t = data.arrow
    h.update(str(t.schema).encode())
    h.update(repr([len(c) for c in t.column("trace_id").chunks]).encode())
    for name in t.column_names:
        h.update(name.encode())
        h.update(orjson.dumps(t.column(name).to_pylist(), option=orjson.OPT_NAIVE_UTC, default=str))
    for frame in (data.truth, data.plan):
        h.update(repr(list(zip(frame.columns, map(str, frame.dtypes)))).encode())
        h.update(frame.to_json(orient="split", double_precision=15).encode())
    h.update(orjson.dumps(data.config, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_data_is_byte_identical_for_a_seed(case):
    assert fingerprint(generate(**CASES[case])) == EXPECTED[case]
