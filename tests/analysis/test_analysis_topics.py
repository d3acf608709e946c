"""Facets through the shared runner and the simulated judge; topics checked against the planted modes."""

from __future__ import annotations

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.demo import (
    EVIDENCE_WORDS,
    FAILURE_MODES,
    generate,
    register_sim_judge,
    unregister_sim_judge,
)
from llmops_nb.llm import Runner
from llmops_nb.schema import RESULTS

KEYS = ["task", "failure", "intent", "language", "sentiment"]


def _primary(truth: pd.DataFrame) -> pd.Series:
    """The first planted mode of each failing trace (what the simulated model describes)."""
    t = truth.set_index("trace_id")
    return t[list(FAILURE_MODES)].idxmax(axis=1)[t["failed"]]


@pytest.fixture
def sim_small():
    data = generate(240, seed=11)
    register_sim_judge(data, facet_error=0.0)
    yield data
    unregister_sim_judge()


def test_facets_are_result_rows_answered_from_the_truth(sim_small, tmp_path):
    data = sim_small
    runner = Runner(concurrency=8, cache=tmp_path / "calls.sqlite")
    store = lo.Store(tmp_path / "store") if hasattr(lo, "Store") else None
    rows = lo.facets(data.spans, model="llmops-sim/judge", runner=runner, store=store)
    assert list(rows.columns) == [c.name for c in RESULTS.columns]
    assert rows["error"].isna().all(), rows.loc[rows["error"].notna(), "error"].head().tolist()
    assert sorted(rows["evaluator"].unique()) == sorted(f"facets.{k}" for k in KEYS)
    n = data.truth.shape[0]
    assert len(rows) == 5 * n and rows["judge_model"].eq("llmops-sim/judge").all() and rows["simulated"].all()
    assert rows["cost_usd"].sum() > 0 and rows["prompt_tokens"].sum() > 0
    wide = lo.facet_table(rows).set_index("trace_id")
    assert list(wide.columns) == KEYS and len(wide) == n
    # the language facet is the language the user wrote in (root metadata), the failure facet
    # names the trace's first planted mode with its evidence words, or "none" for a good trace
    roots = data.spans[data.spans["parent_span_id"].isna()].set_index("trace_id")
    meta = roots["metadata"].map(lambda m: m if isinstance(m, dict) else __import__("json").loads(m))
    assert (wide["language"] == meta.map(lambda m: m["language"]).reindex(wide.index)).all()
    prim = _primary(data.truth)
    for tid, mode in prim.items():
        assert all(w.lower() in wide.loc[tid, "failure"].lower() for w in EVIDENCE_WORDS[mode]), (mode, wide.loc[tid, "failure"])
    good = data.truth.loc[~data.truth["failed"], "trace_id"]
    assert wide.loc[good, "failure"].eq("none").all()
    if store is not None:
        assert len(store.results()) == len(rows)
    # a rerun through the same cache makes no new paid call
    before = runner.ledger().set_index("model").loc["llmops-sim/judge"]
    again = lo.facets(data.spans, model="llmops-sim/judge", runner=runner)
    after = runner.ledger().set_index("model").loc["llmops-sim/judge"]
    assert after["calls"] - after["cached"] == before["calls"] - before["cached"]
    assert after["cached"] - before["cached"] == n
    assert lo.facet_table(again).set_index("trace_id").equals(wide)


def test_own_facet_questions_are_answered(sim_small, tmp_path):
    data = sim_small
    rows = lo.facets(lo.to_traces(data.spans), {"refusal": "Did the assistant refuse to help? yes or no"},
                     model="llmops-sim/judge", cache=False, spans=data.spans)
    wide = lo.facet_table(rows).set_index("trace_id")
    assert "refusal" in wide.columns
    truth = data.truth.set_index("trace_id")["over_refusal"]
    assert (wide["refusal"] == truth.reindex(wide.index).map({True: "yes", False: "no"})).all()
    with pytest.raises(ValueError, match="unknown facet keys"):
        lo.facets(data.spans, ["task", "mood"], model="llmops-sim/judge")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4242, 777])  # held out: topics were developed on seed 2027
def test_topics_recover_the_planted_modes_on_a_held_out_seed(seed):
    from sklearn.metrics import adjusted_rand_score

    data = generate(1500, seed=seed)
    register_sim_judge(data, facet_error=0.1)
    try:
        failing = data.spans[data.spans["trace_id"].isin(data.truth.loc[data.truth["failed"], "trace_id"])]
        rows = lo.facets(failing, model="llmops-sim/judge", runner=Runner(concurrency=16, cache=False))
    finally:
        unregister_sim_judge()
    top = lo.topics(rows, text="failure", levels=2)
    prim = _primary(data.truth)
    f = top.frame.set_index("trace_id")
    ari = adjusted_rand_score(prim.reindex(f.index), f["topic"])
    print(f"ARI level 1 vs planted modes: {ari:.3f}\n{top!r}")
    assert ari >= 0.7, ari
    names = top.names(1)
    for mode in prim.unique():
        if (prim == mode).sum() < 10:
            continue
        assert any(all(w.lower() in n.lower() for w in EVIDENCE_WORDS[mode]) for n in names), (mode, names)
    # no topic is one language: the failure facet is written in English, language stays a column
    overall = top.frame["language"].value_counts(normalize=True)
    for r in top.summary.itertuples():
        if r.size >= 20 and r.language_share >= 0.9:
            assert overall[r.top_language] >= 0.8, (r.name, r.top_language, r.language_share)
    # sub-topics sit under their topic and differ from their siblings
    subs = top.summary[top.summary["level"] == 2]
    for parent, g in subs.groupby("parent"):
        assert g["size"].sum() == int(top.summary.loc[top.summary["topic"] == parent, "size"].iloc[0])
        assert g["name"].nunique() == len(g)


def test_llm_names_that_collide_with_a_sibling_are_redone_then_fall_back():
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(12)],
                       "failure": ["order lookup fails with OrderNotFound"] * 6 + ["answers in English to a French question"] * 6})
    # the model gives every topic the same name: the first keeps it, the second collides twice
    reply = '{"name": "customer support failure", "description": "Something went wrong."}'
    t = lo.topics(df, levels=1, n_topics=2, name_model="openai/gpt-4o-mini",
                  runner=Runner(cache=False), llm_kwargs={"mock_response": reply})
    s = t.summary.set_index("topic")
    assert s.loc["1", "name"] == "customer support failure" and s.loc["1", "named_by"] == "llm"
    assert s.loc["2", "named_by"].startswith("phrases") and "customer support" not in s.loc["2", "name"]


def test_topics_offline_from_spans_read_as_failures():
    data = generate(400, seed=5)
    failing = data.spans[data.spans["trace_id"].isin(data.truth.loc[data.truth["failed"], "trace_id"])]
    t = lo.topics(failing, text="failure", levels=1)
    assert t.settings["named_by"] == "phrases"
    for name in t.names(1):  # phrases, not bags of single words
        assert " " in name or any(ch.isupper() for ch in name[1:]), name
        assert "'" not in name[-1:], name
    tax = t.to_taxonomy()
    assert len(tax) == len(t.names(1)) and all(m.definition for m in tax)
    with pytest.raises(ValueError, match="not a column"):
        lo.topics(pd.DataFrame({"x": ["a", "b"]}), text="task")


def test_phrases_keep_their_negation_and_names_their_capitalised_words():
    from llmops_nb.analysis import distinctive_phrases

    texts = ["The request timed out, so no real answer was given.", "It timed out and no real answer was given.",
             "The reply is in English although the customer wrote in German.",
             "Answers in English to a question asked in another language."]
    ph = distinctive_phrases(texts, [0, 0, 1, 1], n_phrases=6)
    assert "answer was given" not in ph[0] and "real answer" not in ph[0]  # never the opposite of the text
    assert "no real answer" in ph[0] and "timed out" in ph[0]
    assert "English" in ph[1]  # a capitalised name is a phrase on its own
    quoted = distinctive_phrases(["it said 'I can't help with that request'"] * 2 + ["other text here"] * 2,
                                 [0, 0, 1, 1])
    assert all(not p.endswith("'") for p in quoted[0]), quoted
