"""Open and axial coding: notes, taxonomies (versioned), assignment, pivots; next steps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import llmops_nb as lo
from llmops_nb.analysis import FailureMode, Taxonomy, failure_mode_pivot, notes_from_labels

NOTES = {
    "refund_policy": ["invented a refund policy of 120 days", "made up refund rules not in the docs",
                      "refund policy promised double money back", "wrong refund policy, promised full refund",
                      "hallucinated refund policy for billing"],
    "wrong_language": ["answered in english to a german question", "reply in english, user wrote spanish",
                       "english answer for a french customer", "wrong language: english instead of portuguese",
                       "language mismatch, english reply to german"],
    "tool_error": ["order lookup failed, stripped the ORD prefix", "lookup_order called with a bare number",
                   "order id passed without ORD prefix, lookup failed", "tool call lookup_order wrong order id",
                   "order not found because of a bad order id argument"],
}


def notes_frame(repeat: int = 4) -> pd.DataFrame:
    rows = []
    for mode, notes in NOTES.items():
        for r in range(repeat):
            for i, n in enumerate(notes):
                rows.append({"trace_id": f"{mode}-{r}-{i}", "note": n, "mode": mode})
    return pd.DataFrame(rows)


def labels_frame() -> pd.DataFrame:
    t = pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"], utc=True)
    return pd.DataFrame({
        "label_id": ["1", "2", "3", "4", "5"], "trace_id": ["a", "a", "b", "c", "c"],
        "span_id": [None] * 5, "item_id": ["a", "a", "b", "c", "c"],
        "question": ["note", "note", "note", "note", "pass_fail"],
        "value": ["slow answer", "invented a refund policy", "answered in english", "", False],
        "action": ["set", "edit", "set", "set", "set"], "annotator": ["ana"] * 5, "created_at": t,
    })


def test_notes_from_labels_keeps_the_latest_note():
    notes = notes_from_labels(labels_frame())
    assert notes.set_index("trace_id")["note"].to_dict() == {"a": "invented a refund policy", "b": "answered in english"}


def test_propose_taxonomy_by_clustering_notes():
    df = notes_frame()
    tax = lo.propose_taxonomy(df, n_modes=3)
    assert len(tax) == 3 and tax.source.startswith("cluster")
    for m in tax.modes:
        assert m.definition and m.examples and m.keywords
    # each mode's examples come from one true group
    for m in tax.modes:
        groups = {g for g, notes in NOTES.items() for e in m.examples if e in notes}
        assert len(groups) == 1, (m.name, m.examples)
    auto = lo.propose_taxonomy(df["note"].tolist())
    assert 2 <= len(auto) <= 12


def test_propose_taxonomy_with_an_llm():
    reply = {"modes": [{"name": "Refund policy", "definition": "Invents refund rules", "examples": [1]},
                       {"name": "wrong_language", "definition": "Answers in English", "examples": ["x"]}]}
    tax = lo.propose_taxonomy(notes_frame(1), method="llm", model="openai/gpt-4o-mini",
                              mock_response=json.dumps(reply))
    assert tax.names == ["refund_policy", "wrong_language"]
    assert tax["refund_policy"].examples and tax.source == "llm:openai/gpt-4o-mini"
    with pytest.raises(ValueError, match="did not reply with JSON"):
        lo.propose_taxonomy(["a b c"], method="llm", model="openai/gpt-4o-mini", mock_response="sorry")
    with pytest.raises(ValueError, match="needs model"):
        lo.propose_taxonomy(["a"], method="llm")


def test_taxonomy_is_editable_and_versioned(store):
    tax = Taxonomy([FailureMode("a", "first"), FailureMode("b", "second"), FailureMode("c", "third")], name="support")
    v1 = tax.save(store, author="ana", note="first pass")
    assert v1.version == 1
    assert tax.save(store).version == 1  # unchanged content: no new version
    edited = v1.rename("a", "refund_policy", definition="Invents refund rules").merge(["b", "c"], into="other")
    assert edited.names == ["refund_policy", "other"] and v1.names == ["a", "b", "c"]  # copies
    v2 = edited.save(store, author="ana", note="merged b and c")
    assert v2.version == 2
    hist = Taxonomy.versions(store, "support")
    assert hist["version"].tolist() == [1, 2] and hist["n_modes"].tolist() == [3, 2]
    assert Taxonomy.load(store, "support").names == ["refund_policy", "other"]
    assert Taxonomy.load(store, "support", version=1).names == ["a", "b", "c"]
    # a new Store object on the same path sees every version
    again = lo.Store(store.path)
    assert Taxonomy.versions(again, "support")["version"].tolist() == [1, 2]
    assert Taxonomy.from_dict(v2.to_dict()) == v2
    with pytest.raises(KeyError, match="no version 7"):
        Taxonomy.load(store, "support", version=7)
    with pytest.raises(ValueError, match="already exists"):
        v2.add("other")
    assert "refund_policy" in v2._repr_html_() and "v2" in repr(v2)


def test_assign_failure_modes_nearest_and_pivot():
    df = notes_frame(repeat=3)
    df["metadata"] = [{"category": "billing" if m == "refund_policy" else "orders"} for m in df["mode"]]
    tax = lo.propose_taxonomy(df, n_modes=3)
    out = lo.assign_failure_modes(df, tax, text="note")
    assert {"failure_mode", "similarity", "evidence"} <= set(out.columns) and len(out) == len(df)
    # lexical TF-IDF on short notes: most notes land in their group's mode
    assert adjusted_rand_score(df["mode"], out["failure_mode"]) > 0.75
    majority = pd.crosstab(df["mode"], out["failure_mode"]).max(axis=1) / df["mode"].value_counts()
    assert (majority >= 0.8).all(), majority
    assert out["evidence"].str.contains("cosine").all()
    piv = failure_mode_pivot(out, by="category")
    assert piv.loc["All", "All"] == len(df)
    billing_mode = out.loc[df["mode"] == "refund_policy", "failure_mode"].mode()[0]
    assert piv.loc[billing_mode, "billing"] == (df["mode"] == "refund_policy").sum()
    shares = failure_mode_pivot(out, by="category", normalize="columns")
    assert np.allclose(shares.sum(axis=0), 1.0)
    strict = lo.assign_failure_modes(df, tax, text="note", min_similarity=0.99)
    assert strict["failure_mode"].isna().any()


def test_assign_failure_modes_with_an_llm():
    tax = Taxonomy([FailureMode("refund_policy", "Invents refund rules"), FailureMode("wrong_language", "Wrong language")])
    df = pd.DataFrame({"note": ["made up a refund rule", "replied in english", ""]})
    reply = json.dumps({"reasoning": "The note says the refund rule was invented.", "answer": "refund_policy"})
    out = lo.assign_failure_modes(df, tax, method="llm", model="openai/gpt-4o-mini", mock_response=reply)
    assert out["failure_mode"].tolist() == ["refund_policy", "refund_policy", None]
    assert out["reasoning"].iloc[0].startswith("The note says")
    none = lo.assign_failure_modes(df.head(1), tax, method="llm", model="openai/gpt-4o-mini",
                                   mock_response=json.dumps({"reasoning": "r", "answer": "none"}))
    assert none["failure_mode"].isna().all()


def _steps_frame(n: int = 4000, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cat = rng.choice(["billing", "shipping", "account"], n)
    ver = rng.choice(["v1", "v2", "v10"], n)
    model = rng.choice(["gpt-4o", "llama"], n)
    score = np.where(cat == "billing", rng.uniform(0.1, 0.4, n), rng.uniform(0.6, 0.9, n))
    mode = np.full(n, None, dtype=object)
    u = rng.random(n)
    mode[(cat == "billing") & (u < 0.3)] = "made_up_policy"
    mode[(ver == "v10") & (u > 0.75)] = "bad_tool_args"
    mode[(model == "llama") & (u > 0.45) & (u < 0.6)] = "wrong_language"
    return pd.DataFrame({
        "trace_id": [f"t{i}" for i in range(n)],
        "metadata": [{"category": c, "prompt_version": v} for c, v in zip(cat, ver)],
        "models": [[m] for m in model], "retrieval_score": score, "failure_mode": mode,
    })


def test_suggest_next_steps_rules_follow_the_evidence():
    df = _steps_frame()
    steps = lo.suggest_next_steps(df)
    assert set(steps["mode"]) == {"made_up_policy", "bad_tool_args", "wrong_language"}
    assert abs(steps["share_of_failures"].sum() - 1.0) < 0.05  # few traces carry no mode twice
    row = steps.set_index("mode")
    acts = " ".join(row.loc["made_up_policy", "actions"])
    assert "Retrieval misses in category = billing" in acts and "test set" in acts
    acts = " ".join(row.loc["bad_tool_args", "actions"])
    assert "began with prompt_version v10" in acts and "previous version v2" in acts  # natural order
    acts = " ".join(row.loc["wrong_language", "actions"])
    assert "route these requests away from llama" in acts and "gpt-4o" in acts
    assert "language" in acts
    md = steps.to_markdown()
    assert md.startswith("# Suggested next steps") and "## made_up_policy" in md and "Evidence" in md
    html = steps._repr_html_()
    assert "made_up_policy" in html and "<li>" in html
    assert isinstance(steps, pd.DataFrame) and len(steps.examples.iloc[0]) == 5


def test_suggest_next_steps_from_assigned_modes_frame_and_spread_mode():
    df = _steps_frame(n=2000)
    rng = np.random.default_rng(0)
    df["failure_mode"] = np.where(rng.random(len(df)) < 0.05, "flaky", None)
    assigned = df[["trace_id", "failure_mode"]].assign(similarity=rng.random(len(df)))
    steps = lo.suggest_next_steps(df.drop(columns=["failure_mode"]), modes=assigned)
    assert steps["top_slices"].iloc[0] == []
    assert "spread over the traffic" in steps.to_markdown()
