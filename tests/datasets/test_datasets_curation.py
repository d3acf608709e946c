"""Curation: to_examples lineage, select, stratified_sample, assign_splits, dedupe, redact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from llmops_nb import datasets as lds
from llmops_nb.schema import LABELS, RESULTS, conform

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def demo():
    from llmops_nb import demo as d

    return d.generate(40, seed=3)


def _results(traces: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i, tid in enumerate(traces["trace_id"]):
        passed = i % 3 != 0
        rows.append({"result_id": f"r{i}", "trace_id": tid, "evaluator": "faithfulness",
                     "evaluator_version": "2", "judge_model": "gpt-judge", "passed": passed,
                     "label": "pass" if passed else "fail", "score": float(passed),
                     "explanation": "because", "created_at": T0})
    # an older result for the first trace that must be superseded by the newer one
    rows.append({"result_id": "old", "trace_id": traces["trace_id"].iloc[0], "evaluator": "faithfulness",
                 "evaluator_version": "1", "passed": True, "label": "pass", "created_at": T0 - timedelta(days=1)})
    return conform(rows, RESULTS)


def _labels(traces: pd.DataFrame) -> pd.DataFrame:
    t = traces["trace_id"].tolist()
    rows = [
        # trace 0: judge says fail (i % 3 == 0) but the human says pass -> disagreement
        {"label_id": "L1", "trace_id": t[0], "question": "pass_fail", "value": True, "annotator": "ana", "created_at": T0},
        {"label_id": "L2", "trace_id": t[0], "question": "failure_mode", "value": "hallucinated_policy", "annotator": "ana", "created_at": T0},
        # trace 1: set, then edited by another annotator (latest wins)
        {"label_id": "L3", "trace_id": t[1], "question": "pass_fail", "value": True, "annotator": "ana", "created_at": T0},
        {"label_id": "L4", "trace_id": t[1], "question": "pass_fail", "value": False, "action": "edit",
         "previous_value": True, "annotator": "bo", "reason": "missed the refund amount", "created_at": T0 + timedelta(hours=1)},
        {"label_id": "L5", "trace_id": t[1], "question": "expected_output", "value": "Refunds take 5 days.", "annotator": "bo", "created_at": T0},
        # trace 2: set then undone (cleared)
        {"label_id": "L6", "trace_id": t[2], "question": "pass_fail", "value": False, "annotator": "ana", "created_at": T0},
        {"label_id": "L7", "trace_id": t[2], "question": "pass_fail", "value": None, "action": "undo",
         "previous_value": False, "annotator": "ana", "created_at": T0 + timedelta(hours=1)},
        {"label_id": "L8", "trace_id": t[3], "question": "flag", "value": True, "action": "flag", "annotator": "cy", "created_at": T0},
        {"label_id": "L9", "trace_id": t[4], "question": "flag", "value": True, "action": "flag", "annotator": "cy", "created_at": T0},
        {"label_id": "L10", "trace_id": t[4], "question": "flag", "value": None, "action": "undo", "previous_value": True,
         "annotator": "cy", "created_at": T0 + timedelta(hours=1)},
        {"label_id": "L11", "trace_id": t[4], "question": "skip", "value": True, "action": "skip", "annotator": "cy", "created_at": T0},
    ]
    return conform(rows, LABELS)


def test_to_examples_from_traces_keeps_lineage(demo):
    from llmops_nb import to_traces

    traces = to_traces(demo.spans)
    ex = lds.to_examples(traces, _results(traces), _labels(traces), tags=["v1-candidates"])
    assert len(ex) == len(traces)
    assert ex["example_id"].is_unique
    t = traces["trace_id"].tolist()
    e0 = ex.set_index("source_trace_id").loc[t[0]]
    assert e0["labels"] == {"pass_fail": True, "failure_mode": "hallucinated_policy"}
    assert e0["failure_modes"] == ["hallucinated_policy"]
    assert sorted(e0["label_ids"]) == ["L1", "L2"] and e0["annotators"] == ["ana"]
    assert e0["judges"] == ["faithfulness@2"] and e0["judge_models"] == ["gpt-judge"]
    assert e0["results"]["faithfulness"]["passed"] is False  # the newer result won over "old"
    assert e0["source_format"] == traces["source_format"].iloc[0]
    assert e0["source_span_id"] == traces["root_span_id"].iloc[0]
    assert "v1-candidates" in e0["tags"]
    e1 = ex.set_index("source_trace_id").loc[t[1]]
    assert e1["labels"]["pass_fail"] is False and e1["expected_output"] == "Refunds take 5 days."
    assert e1["annotators"] == ["ana", "bo"]
    e2 = ex.set_index("source_trace_id").loc[t[2]]
    assert "pass_fail" not in (e2["labels"] or {})  # undone
    assert "flagged" in ex.set_index("source_trace_id").loc[t[3]]["tags"]
    e4 = ex.set_index("source_trace_id").loc[t[4]]
    assert "flagged" not in e4["tags"] and not e4["labels"] and e4["label_ids"] == ["L9", "L11", "L10"]
    # ids are stable across rebuilds
    again = lds.to_examples(traces)
    assert again["example_id"].tolist() == ex["example_id"].tolist()


def test_to_examples_from_spans_uses_messages(demo):
    llm = demo.spans[demo.spans["kind"] == "llm"].head(10)
    ex = lds.to_examples(llm, rubric="Answers only from the knowledge base.")
    assert len(ex) == 10
    assert ex["source_span_id"].tolist() == llm["span_id"].tolist()
    first = ex["input_messages"].iloc[0]
    assert first[0]["role"] == "system" and first[-1]["role"] == "user"
    assert (ex["rubric"] == "Answers only from the knowledge base.").all()


def test_select_by_mode_slice_cluster_label_and_disagreement(demo):
    from llmops_nb import to_traces

    traces = to_traces(demo.spans)
    ex = lds.to_examples(traces, _results(traces), _labels(traces))
    ex["cluster"] = [i % 4 for i in range(len(ex))]
    t = traces["trace_id"].tolist()
    assert lds.select(ex, failure_mode="hallucinated_policy")["source_trace_id"].tolist() == [t[0]]
    dis = lds.select(ex, disagreement=("faithfulness", "pass_fail"))
    # trace 0: judge fail vs human pass; trace 1: judge pass (i=1) vs human fail (edited)
    assert set(dis["source_trace_id"]) == {t[0], t[1]}
    assert set(lds.select(ex, label={"pass_fail": False})["source_trace_id"]) == {t[1]}
    assert (lds.select(ex, cluster=[1, 2])["cluster"].isin([1, 2])).all()
    assert len(lds.select(ex, cluster=1)) == sum(1 for i in range(len(ex)) if i % 4 == 1)
    cats = ex["metadata"].map(lambda m: (m or {}).get("category"))
    billing = lds.select(ex, slice={"category": "billing"})
    assert len(billing) == (cats == "billing").sum() > 0
    assert len(lds.select(ex, slice={"metadata.category": ["billing", "nope"]})) == len(billing)
    assert len(lds.select(ex, slice={"category": "nope"})) == 0
    assert len(lds.select(ex, where=lambda f: f["cluster"] == 0)) == len(ex[ex["cluster"] == 0])
    # input frame is not mutated
    assert "cluster" in ex.columns and len(ex) == len(traces)
    with pytest.raises(KeyError, match="failure_modes"):
        lds.select(pd.DataFrame({"x": [1]}), failure_mode="m")


def test_select_on_demo_truth_columns(demo):
    truth = demo.truth
    got = lds.select(truth, failure_mode=["pii_echo", "over_refusal"])
    assert set(got["trace_id"]) == set(truth[truth["pii_echo"] | truth["over_refusal"]]["trace_id"])


def test_stratified_sample_sizes_and_stability():
    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(300)],
                       "cat": ["a"] * 200 + ["b"] * 90 + ["c"] * 10})
    s = lds.stratified_sample(df, "cat", 20, seed=1)
    assert s["cat"].value_counts().to_dict() == {"a": 20, "b": 20, "c": 10}
    assert s.index.is_monotonic_increasing
    assert s.equals(lds.stratified_sample(df, "cat", 20, seed=1))
    assert set(s["example_id"]) != set(lds.stratified_sample(df, "cat", 20, seed=2)["example_id"])
    d = lds.stratified_sample(df, "cat", {"a": 5, "b": 1}, seed=0)
    assert d["cat"].value_counts().to_dict() == {"a": 5, "b": 1}
    # adding rows keeps the old picks unless a new row ranks in
    more = pd.concat([df, pd.DataFrame({"example_id": ["new1", "new2"], "cat": ["c", "c"]})], ignore_index=True)
    s2 = lds.stratified_sample(more, "cat", 20, seed=1)
    assert set(s[s["cat"] != "c"]["example_id"]) == set(s2[s2["cat"] != "c"]["example_id"])
    with pytest.raises(KeyError, match="strata"):
        lds.stratified_sample(df, "cat", {"zzz": 1})


def test_assign_splits_deterministic_and_stable_when_rows_are_added():
    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(5000)]})
    s1 = lds.assign_splits(df, {"train": 0.7, "dev": 0.15, "test": 0.15})
    frac = s1["split"].value_counts(normalize=True)
    assert abs(frac["train"] - 0.7) < 0.03 and abs(frac["test"] - 0.15) < 0.03
    bigger = pd.concat([df, pd.DataFrame({"example_id": [f"n{i}" for i in range(2000)]})]).sample(frac=1, random_state=0)
    s2 = lds.assign_splits(bigger, {"train": 0.7, "dev": 0.15, "test": 0.15})
    merged = s1.merge(s2, on="example_id", suffixes=("_1", "_2"))
    assert len(merged) == 5000 and (merged["split_1"] == merged["split_2"]).all()
    assert "split" not in df.columns
    with pytest.raises(ValueError, match="sum to 1"):
        lds.assign_splits(df, {"train": 0.5, "test": 0.2})


def test_dedupe_lists_pairs_with_similarity_and_threshold():
    import random

    rng = random.Random(7)
    words = ["refund", "order", "parcel", "invoice", "account", "password", "address", "delivery", "card", "billing", "travel", "hotel", "flight", "cancel", "change", "update", "reset", "late", "missing", "broken", "charge", "twice", "email", "phone"]
    base = [" ".join(rng.choice(words) for _ in range(14)) + f" ({i})" for i in range(200)]
    texts = base + [base[5].replace(" ", ", ", 1), base[7] + " ", base[9].upper()]
    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(len(texts))], "input_text": texts})
    res = lds.dedupe(df, threshold=0.9)
    kept, dropped = res
    assert set(dropped["dropped_id"]) == {"e200", "e201", "e202"}
    assert dict(zip(dropped["dropped_id"], dropped["kept_id"])) == {"e200": "e5", "e201": "e7", "e202": "e9"}
    assert (dropped["threshold"] == 0.9).all() and (dropped["similarity"] >= 0.9).all()
    assert dropped.set_index("dropped_id").loc["e202", "similarity"] == 1.0  # case/space-only change
    assert len(kept) == 200 and "threshold: cosine similarity >= 0.9" in repr(res)
    assert "threshold" in res._repr_html_()
    assert len(lds.dedupe(df.iloc[:200], threshold=0.9).dropped) == 0


def test_dedupe_on_chat_messages_column():
    import random

    rng = random.Random(1)
    words = ["where", "is", "my", "parcel", "it", "has", "been", "a", "week", "since", "ordered", "refund", "please", "help", "now", "late", "box"]
    texts = [" ".join(rng.choice(words) for _ in range(16)) for _ in range(50)]
    msgs = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": t}] for t in texts]
    msgs.append([{"role": "system", "content": "Be brief."}, {"role": "user", "content": texts[3] + "!"}])
    df = pd.DataFrame({"example_id": [f"m{i}" for i in range(51)], "input_messages": msgs})
    _, dropped = lds.dedupe(df, text="input_messages", threshold=0.9)
    assert dropped["dropped_id"].tolist() == ["m50"] and dropped["kept_id"].tolist() == ["m3"]


def test_redact_lists_spans_and_uses_evals_detector():
    from llmops_nb.evals import find_pii

    df = pd.DataFrame({
        "example_id": ["a", "b"],
        "input_text": ["Email me at ann.lee@corp.io or call +1 415 555 0132", "nothing here"],
        "input_messages": [[{"role": "user", "content": "card 4111 1111 1111 1111"}], None],
        "labels": [{"note": "customer bob@corp.io complained"}, None],
        "source_trace_id": ["t-ann.lee@corp.io", "t2"],
    })
    out, spans = lds.redact(df)
    assert out.loc[0, "input_text"] == "Email me at [EMAIL] or call [PHONE]"
    assert out.loc[0, "input_messages"][0]["content"] == "card [CREDIT_CARD]"
    assert out.loc[0, "labels"] == {"note": "customer [EMAIL] complained"}
    assert out.loc[0, "source_trace_id"] == "t-ann.lee@corp.io"  # ids are never rewritten
    assert df.loc[0, "input_text"].startswith("Email me at ann")  # input unchanged
    assert sorted(spans["kind"]) == ["credit_card", "email", "email", "phone"]
    row = spans[spans["column"] == "input_text"].iloc[0]
    assert df.loc[0, "input_text"][row["start"]:row["end"]] == row["text"]
    assert set(spans[spans["column"] == "input_messages"]["path"]) == {"[0].content"}
    # the same findings as the evaluator's detector
    assert [m.text for m in find_pii(df.loc[0, "input_text"])] == spans[spans["column"] == "input_text"]["text"].tolist()
    only = lds.redact(df, kinds=["phone"]).frame
    assert "ann.lee@corp.io" in only.loc[0, "input_text"] and "[PHONE]" in only.loc[0, "input_text"]


def test_end_to_end_store_results_labels_to_saved_version(demo, store, tmp_path):
    """Spans in the store, evaluator results and human labels from their own areas, curated,
    saved, and loaded back as datasets.Dataset."""
    import datasets

    from llmops_nb import evaluate, to_traces
    from llmops_nb.annotation._labels import new_label_rows

    store.add_spans(demo.spans)
    traces = to_traces(store.spans())
    evaluate(traces, ["pii"], store=store, progress=False, cache=False)
    t0 = traces["trace_id"].iloc[0]
    store.add_labels(new_label_rows([
        {"trace_id": t0, "item_id": t0, "question": "pass_fail", "value": False, "action": "set", "annotator": "ana"},
        {"trace_id": t0, "item_id": t0, "question": "failure_mode", "value": "pii_echo", "action": "set", "annotator": "ana"},
    ]))
    ex = lds.to_examples(traces, store.results(), store.labels())
    e0 = ex.set_index("source_trace_id").loc[t0]
    assert e0["labels"] == {"pass_fail": False, "failure_mode": "pii_echo"} and e0["annotators"] == ["ana"]
    assert any(j.startswith("pii") for j in e0["judges"]) and "pii" in e0["results"]
    curated = lds.assign_splits(lds.dedupe(ex, threshold=0.95).kept)
    v = lds.save(curated, "demo-tests", message="demo traces with pii judge", store=store)
    back = lds.load("demo-tests", store=store)
    assert isinstance(back, datasets.DatasetDict) and sum(len(d) for d in back.values()) == len(curated)
    df = lds.load("demo-tests", v.version, store=store, as_="pandas")
    assert df.set_index("example_id").loc[e0["example_id"], "labels"]["failure_mode"] == "pii_echo"
    assert (tmp_path / "store" / "datasets" / "demo-tests" / "_delta_log").is_dir()
