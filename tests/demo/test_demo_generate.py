"""The simulated application: determinism, planted rates, causes findable in the data, lossless OTLP."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.demo import (
    FAILURE_MODES,
    LONG_CONTEXT_TOKENS,
    PLANTED,
    generate,
    load_truth,
    resolve_rates,
    write_otlp,
    write_store,
)
from llmops_nb.demo import _content as C


@pytest.fixture(scope="module")
def big():
    # enough traces for every cause slice to hold dozens of eligible traces
    return generate(6000, seed=11)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_otlp(generate(300, seed=7), a)
    write_otlp(generate(300, seed=7), b)
    write_otlp(generate(300, seed=8), c)
    fa, fb = _files(a), _files(b)
    assert any(k.startswith(".truth/truth.parquet") for k in fa)
    assert len([k for k in fa if k.endswith(".jsonl")]) >= 3
    assert fa == fb
    assert _files(c) != fa


def test_same_seed_gives_identical_store(tmp_path):
    s1, s2 = lo.Store(tmp_path / "s1"), lo.Store(tmp_path / "s2")
    write_store(generate(200, seed=3), s1)
    write_store(generate(200, seed=3), s2)
    pd.testing.assert_frame_equal(s1.spans(), s2.spans())
    assert (s1.path / ".truth" / "truth.parquet").read_bytes() == (s2.path / ".truth" / "truth.parquet").read_bytes()


def test_truth_is_kept_apart_from_the_spans(tmp_path):
    data = generate(300, seed=1)
    store = lo.Store(tmp_path / "s")
    write_store(data, store)
    assert "truth" not in " ".join(store.tables())
    text = " ".join(str(v) for v in data.spans["metadata"].tolist() + data.spans["attributes"].tolist())
    for mode in FAILURE_MODES:
        assert mode not in text
    pd.testing.assert_frame_equal(load_truth(store), data.truth)
    assert list(data.truth.columns) == ["trace_id", *FAILURE_MODES, "failed"]
    assert data.truth["failed"].equals(data.truth[list(FAILURE_MODES)].any(axis=1))
    assert set(data.truth["trace_id"]) == set(data.spans["trace_id"])


def test_shape_of_a_trace():
    data = generate(400, seed=4)
    s = data.spans
    roots = s[s["parent_span_id"].isna()]
    assert len(roots) == 400 and set(roots["kind"]) == {"agent"}
    for key in ("tenant", "language", "channel", "category", "prompt_version", "user_tier"):
        assert all(key in m for m in roots["metadata"])
    assert {"agent", "guardrail", "retriever", "embedding", "llm", "tool"} <= set(s["kind"])
    llm = s[s["kind"] == "llm"]
    assert llm["model"].notna().all() and llm["provider"].notna().all()
    assert llm["model"].nunique() >= 5
    ok = llm[llm["status"] == "ok"]
    assert (ok["prompt_tokens"] > 0).all() and (ok["cost_usd"] > 0).all()
    assert (ok["total_tokens"] == ok["prompt_tokens"] + ok["completion_tokens"]).all()
    # tool calls in the llm output match tool spans
    calls = [c for msgs in llm["output_messages"].dropna() for m in msgs for c in (m["tool_calls"] or [])]
    assert calls and {c["name"] for c in calls} <= set(C.TOOLS_SPEC)
    assert len(calls) == (s["kind"] == "tool").sum() - (s["error_message"].fillna("").str.contains("503")).sum()
    # sessions with several turns carry the history
    multi = roots.groupby("session_id").size()
    assert (multi > 1).any()
    assert roots["metadata"].map(lambda m: m["language"]).nunique() == 5
    # text is varied
    assert roots["input_text"].nunique() > 0.9 * len(roots)
    # parent links are inside the trace
    ids = set(zip(s["trace_id"], s["span_id"]))
    kids = s[s["parent_span_id"].notna()]
    assert all((t, p) in ids for t, p in zip(kids["trace_id"], kids["parent_span_id"]))
    assert (s["end_time"] >= s["start_time"]).all()


def _bound(k: int, n: int, p: float) -> bool:
    """k successes in n trials are within 4 sigma (plus one count) of rate p."""
    return abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


def test_planted_rates_match_the_configuration(big):
    plan, truth = big.plan, big.truth.set_index("trace_id")
    rates = resolve_rates(None)
    assert (plan["trace_id"].values == truth.index.values).all()
    for mode in FAILURE_MODES:
        elig = plan[f"eligible_{mode}"].to_numpy()
        inside = plan[f"in_slice_{mode}"].to_numpy()
        got = truth[mode].to_numpy()
        assert not got[~elig].any(), mode
        for mask, p in ((elig & inside, rates[mode][0]), (elig & ~inside, rates[mode][1])):
            n, k = int(mask.sum()), int(got[mask].sum())
            assert n >= 25, (mode, n)
            assert _bound(k, n, p), (mode, k, n, p)


def test_custom_rates_are_applied():
    data = generate(1500, seed=2, rates={"over_refusal": (1.0, 0.0), "hallucinated_policy": 0.0})
    plan, truth = data.plan, data.truth
    e = plan["eligible_over_refusal"]
    assert truth.loc[e & plan["in_slice_over_refusal"], "over_refusal"].all()
    assert not truth.loc[~plan["in_slice_over_refusal"], "over_refusal"].any()
    assert not truth.loc[plan["in_slice_hallucinated_policy"], "hallucinated_policy"].any()
    with pytest.raises(ValueError, match="unknown failure mode"):
        generate(5, rates={"nope": 0.1})


def test_slices_are_findable_in_the_spans(big):
    s, plan = big.spans, big.plan.set_index("trace_id")
    roots = s[s["parent_span_id"].isna()].set_index("trace_id").loc[plan.index]
    meta = pd.DataFrame(list(roots["metadata"]), index=roots.index)
    llm = s[s["kind"] == "llm"].drop_duplicates("trace_id").set_index("trace_id")["model"]
    for mode, cause in PLANTED.items():
        col, val = cause["column"], cause["value"]
        seen = (llm.reindex(plan.index) == val) if col == "model" else (meta[col] == val)
        if mode == "timeout_long_context":
            seen = seen & plan["long_context"]
        # blocked traces never reach the model: their slice membership is moot
        live = ~plan["blocked"]
        assert (seen[live] == plan.loc[live, f"in_slice_{mode}"]).all(), mode
    assert (plan["long_context"] == (plan["prompt_tokens_first_call"] > LONG_CONTEXT_TOKENS)).all()


def test_each_failure_leaves_evidence(big):
    s, truth = big.spans, big.truth.set_index("trace_id")
    roots = s[s["parent_span_id"].isna()].set_index("trace_id")
    by = s.groupby("trace_id")
    max_doc = s[s["kind"] == "retriever"].set_index("trace_id")["documents"].map(lambda d: max(x["score"] for x in d))

    hp = truth.index[truth["hallucinated_policy"]]
    assert (max_doc.reindex(hp) < 0.45).all()
    assert roots.loc[hp, "output_text"].str.contains("120|6 months|double|lifetime|6 meses|6 derniers|6 Monate|doble|dobro").mean() > 0.95

    wt = truth.index[truth["wrong_tool_args"]]
    tools = s[(s["kind"] == "tool") & (s["tool_name"] == "lookup_order")]
    bad = tools[tools["error_message"].fillna("").str.startswith("OrderNotFound")]
    assert set(wt) == set(bad["trace_id"])

    to = truth.index[truth["timeout_long_context"]]
    llm = s[s["kind"] == "llm"]
    timed = llm[llm["error_message"].fillna("").str.contains("Timeout")]
    assert set(to) == set(timed["trace_id"]) and (timed["latency_ms"] >= 30000).all()
    assert (roots.loc[to, "status"] == "error").all()

    pe = truth.index[truth["pii_echo"]]
    for tid in pe[:200]:
        q, a = roots.loc[tid, "input_text"], roots.loc[tid, "output_text"]
        assert any(tok in a for tok in _pii_in(q)), (q, a)

    ij = truth.index[truth["injection_success"]]
    assert roots.loc[ij, "input_text"].map(lambda q: any(x in q for x in C.INJECTIONS)).all()

    orf = truth.index[truth["over_refusal"]]
    refusals = {x for v in C.REFUSALS.values() for x in v}
    assert roots.loc[orf, "output_text"].map(lambda a: any(r in a for r in refusals)).all()
    assert by.size().loc[orf].min() >= 5

    wl = truth.index[truth["wrong_language"]]
    lang = roots["metadata"].map(lambda m: m["language"])
    assert (lang.loc[wl] != "en").all()


def _pii_in(q: str) -> list[str]:
    import re

    return re.findall(r"[\w.]+@[\w.]+\w|\+\d[\d ()-]{8,}\d|\b4\d{3} \d{4} \d{4} \d{4}\b", q)


def test_otlp_files_load_back_without_loss(tmp_path):
    data = generate(400, seed=5)
    files = write_otlp(data, tmp_path / "otlp")
    services = {p.parent.name for p in files}
    assert services == {"support-assistant", "support-email-bot", "support-messaging"}
    oi = (tmp_path / "otlp" / "support-assistant").glob("*.jsonl")
    ga = (tmp_path / "otlp" / "support-email-bot").glob("*.jsonl")
    assert all(b"llm.input_messages" in p.read_bytes() and b"gen_ai.input" not in p.read_bytes() for p in oi)
    assert all(b"gen_ai.input.messages" in p.read_bytes() and b"llm.input_messages" not in p.read_bytes() for p in ga)

    back = lo.read_traces(tmp_path / "otlp")
    a = data.spans.sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    b = back.sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    assert len(a) == len(b)
    assert (b["source_format"] == "otlp_json").all()
    for col in a.columns:
        if col in ("attributes", "source_format"):
            continue
        left, right = a[col].tolist(), b[col].tolist()
        diff = [i for i, (x, y) in enumerate(zip(left, right)) if not _same(x, y)]
        assert not diff, (col, left[diff[0]], right[diff[0]])


def _same(x, y) -> bool:
    def na(v):
        return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))

    if na(x) or na(y):
        return na(x) and na(y)
    if isinstance(x, float) and isinstance(y, float):
        # latency_ms is derived from the (exact) times; only float rounding may differ
        return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9)
    return bool(x == y)


def test_cli_generate_and_run(tmp_path, capsys):
    from llmops_nb.cli import main

    assert main(["demo", "generate", "--traces", "60", "--seed", "1", "--out", str(tmp_path / "o"), "--format", "otlp"]) == 0
    assert len(lo.read_traces(tmp_path / "o")["trace_id"].unique()) == 60
    assert (tmp_path / "o" / ".truth" / "truth.parquet").exists()
    assert main(["demo", "run", "--traces", "80", "--store", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "p95" in out and "error rate" in out and "gpt-4o-mini" in out
    assert lo.Store(tmp_path / "s").spans()["trace_id"].nunique() == 80


def test_demo_run_calls_the_report_hook(tmp_path, capsys, monkeypatch):
    import types

    from llmops_nb.cli import main

    seen = {}

    def render_demo_report(store, truth):
        seen["n"] = len(truth)
        seen["store"] = store
        return "REPORT RENDERED"

    fake = types.ModuleType("llmops_nb.report")
    fake.render_demo_report = render_demo_report
    monkeypatch.setitem(__import__("sys").modules, "llmops_nb.report", fake)
    monkeypatch.setattr(lo, "report", fake, raising=False)
    assert main(["demo", "run", "--traces", "30", "--store", str(tmp_path / "s")]) == 0
    assert seen["n"] == 30 and str(seen["store"].path) == str(tmp_path / "s")
    assert "REPORT RENDERED" in capsys.readouterr().out
