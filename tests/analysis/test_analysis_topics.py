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
    # a phrase cut short of the word that always follows it dangles ("none of the retrieved")
    cut = distinctive_phrases(["a policy found in none of the retrieved articles", "none of the retrieved articles say so",
                               "the answer is in English", "English answer to a German question"], [0, 0, 1, 1],
                              n_phrases=10)
    assert "none of the retrieved" not in cut[0] and "retrieved articles" in cut[0], cut
    verb = distinctive_phrases(["timed out and the customer got a generic apology",
                                "the call timed out; the customer got only an apology",
                                "the answer is in English", "English answer to a German question"], [0, 0, 1, 1],
                               n_phrases=10)
    assert "customer got" not in verb[0] and "timed out" in verb[0], verb  # a verb without its object


@pytest.fixture(scope="module")
def sim_topics():
    """Facets of the simulated app through the simulated provider, and their topics."""
    data = generate(400, seed=5)
    register_sim_judge(data, facet_error=0.0)
    try:
        rows = lo.facets(data.spans, model="llmops-sim/judge", runner=Runner(concurrency=8, cache=False))
    finally:
        unregister_sim_judge()
    return data, rows, lo.topics(rows, text="failure", levels=2)


def test_taxonomy_from_topics_has_their_readable_names_descriptions_and_counts(sim_topics):
    _data, _rows, t = sim_topics
    tax = lo.propose_taxonomy(t)
    top = t.summary[t.summary["level"] == 1]
    assert tax.names == top["name"].tolist() == t.names(1)
    assert [m.count for m in tax] == top["size"].tolist() and sum(m.count for m in tax) == len(t.frame)
    assert [m.topics for m in tax] == [[x] for x in top["topic"]]
    for m in tax:
        # a readable name (words and spaces), never an identifier glued from a bag of words
        assert " " in m.name and "_" not in m.name.replace("lookup_order", ""), m.name
        assert m.slug == m.slug.lower() and " " not in m.slug
        assert m.definition and m.examples and m.keywords
        assert set(m.examples) <= set(t.frame["text"])
    assert "items" in tax._repr_html_() and f"({tax.modes[0].count:,})" in repr(tax)
    assert lo.propose_taxonomy(topics=t).to_dict() == tax.to_dict() == t.to_taxonomy().to_dict()
    # level 2: every sub-topic, or the topic itself when it has none; counts still add up
    leaves = lo.propose_taxonomy(t, level=2)
    assert len(leaves) >= len(tax) and sum(m.count for m in leaves) == len(t.frame)
    assert len(set(leaves.names)) == len(leaves)
    assert lo.analysis.Taxonomy.from_dict(leaves.to_dict()) == leaves


def test_assignment_follows_topic_membership(sim_topics):
    data, rows, t = sim_topics
    tax = lo.propose_taxonomy(t)
    traces = lo.to_traces(data.spans)
    out = lo.assign_failure_modes(traces, tax, topics=t)
    assert len(out) == len(traces) and {"failure_mode", "topic", "similarity", "evidence"} <= set(out.columns)
    member = t.frame.set_index("trace_id")
    got = out.set_index("trace_id")
    # every grouped item takes the mode made from its topic; the counts are the modes' counts
    by_topic = {m.topics[0]: m.name for m in tax}
    assert (got.loc[member.index, "failure_mode"] == member["topic"].map(by_topic)).all()
    assert got["failure_mode"].value_counts().to_dict() == {m.name: m.count for m in tax}
    assert got.loc[member.index, "evidence"].str.startswith("member of topic").all()
    assert got.loc[member.index, "similarity"].between(-1, 1.0001).all()
    # the good traces (failure facet "none") are left out of the topics and get no mode
    good = data.truth.loc[~data.truth["failed"], "trace_id"]
    assert got.loc[good, "failure_mode"].isna().all() and set(good) <= set(t.left_out)
    # facet rows work as the frame too, and so does the Topics alone
    assert lo.assign_failure_modes(rows, t)["failure_mode"].value_counts().to_dict() == {m.name: m.count for m in tax}
    # renaming and merging modes keeps the assignment consistent with the topics
    a, b = tax.names[0], tax.names[1]
    edited = tax.rename(a, "made-up refund policy").merge(["made-up refund policy", b], into="policy or lookup")
    again = lo.assign_failure_modes(traces, edited, topics=t).set_index("trace_id")
    both = member.index[member["topic"].isin([tax[a].topics[0], tax[b].topics[0]])]
    assert (again.loc[both, "failure_mode"] == "policy or lookup").all()
    assert edited["policy or lookup"].count == tax[a].count + tax[b].count
    # a level-2 taxonomy assigns the sub-topics
    leaves = lo.propose_taxonomy(t, level=2)
    sub = lo.assign_failure_modes(traces, leaves, topics=t).set_index("trace_id")
    with_sub = member[member["subtopic"].notna()]
    mode_of = {x: m.name for m in leaves for x in m.topics}
    assert (sub.loc[with_sub.index, "failure_mode"] == with_sub["subtopic"].map(mode_of)).all()


def test_topics_and_frames_that_do_not_match_give_clear_errors(sim_topics):
    data, _rows, t = sim_topics
    tax = lo.propose_taxonomy(t)
    traces = lo.to_traces(data.spans)
    other = traces.assign(trace_id="x-" + traces["trace_id"])
    with pytest.raises(ValueError, match=r"none of this frame's \d+ trace_ids .*'x-.*to_taxonomy\(\), text="):
        lo.assign_failure_modes(other, tax, topics=t)
    with pytest.raises(ValueError, match="lacks"):
        lo.assign_failure_modes(traces.drop(columns="trace_id"), tax, topics=t)
    foreign = lo.propose_taxonomy(t, level=2)
    foreign.modes[0].topics = ["99"]
    with pytest.raises(ValueError, match=r"topics \['99'\] that these topics do not have.*propose_taxonomy\(topics\)"):
        lo.assign_failure_modes(traces, foreign, topics=t)
    hand = lo.analysis.Taxonomy([lo.analysis.FailureMode("refund", "made-up refund policy")])
    with pytest.raises(ValueError, match="no mode .* was made from topics"):
        lo.assign_failure_modes(traces, hand, topics=t)
    # some rows unknown to the topics: no mode and a warning naming them, or by similarity from a text
    extra = pd.concat([traces, other.head(3)], ignore_index=True)
    with pytest.warns(UserWarning, match=r"3 of .* rows are not among the items .*x-"):
        out = lo.assign_failure_modes(extra, tax, topics=t)
    assert out["failure_mode"].tail(3).isna().all()
    extra["note"] = extra["input_text"]
    near = lo.assign_failure_modes(extra, tax, topics=t, text="note")
    assert near["failure_mode"].tail(3).notna().all() and near["evidence"].tail(3).str.startswith("not in the topics").all()
    with pytest.raises(ValueError, match="either notes or topics"):
        lo.propose_taxonomy(["a note"], topics=t)
    with pytest.raises(ValueError, match="name_model"):
        lo.propose_taxonomy(t, method="llm", model="openai/gpt-4o-mini")


def test_next_steps_cite_only_evidence_from_the_data(sim_topics):
    """Each action's evidence cites counts, slices and columns that the inputs hold, with the
    very figures they give, and never the mode's name as its own evidence."""
    import numpy as np

    from llmops_nb.analysis import trace_features

    data, _rows, t = sim_topics
    tax = lo.propose_taxonomy(t)
    traces = trace_features(data.spans)
    traces["failed"] = traces["trace_id"].isin(data.truth.loc[data.truth["failed"], "trace_id"])
    assigned = lo.assign_failure_modes(traces, tax, topics=t)
    steps = lo.suggest_next_steps(assigned, outcome="failed", definitions=tax)
    assert set(steps["mode"]) == set(tax.names)
    failed = traces["failed"].to_numpy()
    kinds = set()
    for r in steps.itertuples():
        y = (assigned["failure_mode"] == r.mode).to_numpy()
        assert len(r.actions) == len(r.evidence) == len(r.evidence_refs) >= 2
        slices = lo.find_slices(assigned.assign(_y=y), outcome="_y", grain="row", max_order=1,
                                exclude=["failure_mode", "topic", "similarity", "evidence", "failed"])
        by_slice = slices.set_index("slice")
        for act, ev, refs in zip(r.actions, r.evidence, r.evidence_refs):
            assert ev and refs, (r.mode, act)
            assert r.mode.lower() not in ev.lower(), (r.mode, ev)  # never the mode's name as evidence
            assert "mode's name" not in ev
            for ref in refs:
                kinds.add(ref["kind"])
                if ref["kind"] == "count":
                    assert ref["n_mode"] == y.sum() and ref["n"] == len(traces)
                    assert f"{ref['n_mode']:,} of {ref['n']:,} traces" in ev
                    assert ref["share_of_failures"] == pytest.approx((y & failed).sum() / failed.sum())
                elif ref["kind"] == "slice":
                    s = by_slice.loc[ref["slice"]]
                    assert ref["slice"] in ev and (ref["n"], ref["rate"]) == (int(s["size"]), pytest.approx(s["failure_rate"]))
                    assert ref["p_adjusted"] < 0.05 and s["significant"]
                    assert f"{ref['rate']:.1%}" in ev
                else:
                    assert ref["kind"] == "column" and ref["column"] in traces.columns and ref["column"] in ev
                    v = pd.to_numeric(traces[ref["column"]].astype("float64"), errors="coerce").to_numpy()
                    ok = ~failed & ~y & np.isfinite(v)
                    a, b = v[y & np.isfinite(v)], v[ok]
                    stat = (lambda x: (x > 0).mean()) if ref["stat"] == "share > 0" else np.mean
                    assert (ref["mode"], ref["not_failed"]) == (pytest.approx(stat(a)), pytest.approx(stat(b)))
                    assert ref["p_value"] < 0.01
    # the simulated failures show in the data: slices, and columns such as tool errors or timeouts
    assert {"count", "column"} <= kinds, kinds
    md = steps.to_markdown()
    assert "mode's name" not in md
