"""Retrieval metrics on published worked examples (Wikipedia's DCG and MRR examples, the
trec_eval definitions), against pytrec_eval when it is installed, and the result rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

import llmops_nb as lo
from llmops_nb.evals import (
    RetrievalMetrics,
    hit_rate,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
)


def test_wikipedia_dcg_example():
    # en.wikipedia.org/wiki/Discounted_cumulative_gain, "Example": six results graded
    # 3, 2, 3, 0, 1, 2; two more relevant documents (3 and 2) were not retrieved.
    # DCG6 = 6.861, IDCG6 = 8.740, nDCG6 = 0.785
    ranking = [f"d{i}" for i in range(1, 7)]
    gold = {"d1": 3, "d2": 2, "d3": 3, "d4": 0, "d5": 1, "d6": 2, "d7": 3, "d8": 2}
    dcg = sum(g / math.log2(i + 1) for i, g in enumerate([3, 2, 3, 0, 1, 2], 1))
    assert round(dcg, 3) == 6.861
    assert round(ndcg_at_k(ranking, gold, 6), 3) == 0.785


def test_wikipedia_mrr_example():
    # en.wikipedia.org/wiki/Mean_reciprocal_rank: correct answers at ranks 3, 2 and 1 -> MRR 11/18
    rr = [reciprocal_rank(["catten", "cati", "cats"], {"cats"}),
          reciprocal_rank(["torii", "tori", "toruses"], {"tori"}),
          reciprocal_rank(["viruses", "virii", "viri"], {"viruses"})]
    assert rr == [1 / 3, 1 / 2, 1.0]
    assert math.isclose(np.mean(rr), 11 / 18)


def test_precision_recall_hit_definitions():
    ranking = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "c", "d"}
    assert precision_at_k(ranking, gold, 3) == 2 / 3
    assert precision_at_k(["a"], gold, 5) == 1 / 5  # missing ranks count as not relevant (trec_eval P_5)
    assert recall_at_k(ranking, gold, 5) == 3 / 4
    assert recall_at_k(ranking, set(), 5) is None
    assert hit_rate(ranking, {"y"}, 3) == 0.0 and hit_rate(ranking, {"y"}, 4) == 1.0
    assert reciprocal_rank(ranking, {"zz"}) == 0.0
    assert ndcg_at_k(["x", "y"], {"a"}, 2) == 0.0 and ndcg_at_k(["a"], {"a"}, 1) == 1.0


def _random_runs(seed=0, n=200):
    rng = np.random.default_rng(seed)
    qrels, runs = {}, {}
    for q in range(n):
        docs = [f"d{i}" for i in rng.choice(40, size=int(rng.integers(1, 15)), replace=False)]
        rel = {f"d{i}": int(rng.integers(1, 4)) for i in rng.choice(40, size=int(rng.integers(1, 6)), replace=False)}
        qrels[f"q{q}"] = rel
        runs[f"q{q}"] = {d: float(len(docs) - j) for j, d in enumerate(docs)}  # strictly decreasing scores
    return qrels, runs


def test_equal_to_pytrec_eval_on_random_rankings():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, runs = _random_runs()
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"P_5", "recall_5", "recip_rank", "ndcg_cut_5", "ndcg_cut_10"})
    ref = ev.evaluate(runs)
    for q, run in runs.items():
        ranking = list(run)
        g = qrels[q]
        assert math.isclose(precision_at_k(ranking, g, 5), ref[q]["P_5"], abs_tol=1e-9)
        assert math.isclose(recall_at_k(ranking, g, 5), ref[q]["recall_5"], abs_tol=1e-9)
        assert math.isclose(reciprocal_rank(ranking, g), ref[q]["recip_rank"], abs_tol=1e-9)
        assert math.isclose(ndcg_at_k(ranking, g, 5), ref[q]["ndcg_cut_5"], abs_tol=1e-9)
        assert math.isclose(ndcg_at_k(ranking, g, 10), ref[q]["ndcg_cut_10"], abs_tol=1e-9)


def test_equal_to_values_computed_by_pytrec_eval():
    """Values pytrec_eval 0.5 (pytrec-eval-terrier) gave for these rankings in a side venv, so the
    comparison holds where it is not installed."""
    gold = {"d1": 3, "d2": 2, "d3": 3, "d4": 0, "d5": 1, "d6": 2, "d7": 3, "d8": 2}
    ranking = ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert math.isclose(ndcg_at_k(ranking, gold, 5), REF["ndcg_cut_5"], abs_tol=1e-4)
    assert math.isclose(precision_at_k(ranking, gold, 5), REF["P_5"], abs_tol=1e-4)
    assert math.isclose(recall_at_k(ranking, gold, 5), REF["recall_5"], abs_tol=1e-4)
    assert math.isclose(ndcg_at_k(ranking, gold, 6), REF["ndcg_cut_6"], abs_tol=1e-4)


# pytrec_eval.RelevanceEvaluator({"q": gold}, {"P_5", "recall_5", "ndcg_cut_5", "ndcg_cut_6"}) on this run
REF = {"P_5": 0.8, "recall_5": 0.5714285714285714, "ndcg_cut_5": 0.76592286264237, "ndcg_cut_6": 0.785002371969948}


def test_retrieval_metrics_rows_on_retriever_spans():
    spans = lo.read_traces([
        {"trace_id": "t", "span_id": "r", "kind": "retriever", "documents": [
            {"id": "kb-1", "content": "a", "score": 0.9}, {"id": "kb-9", "content": "b", "score": 0.5}],
         "metadata": {"gold_doc_ids": ["kb-9", "kb-4"]}},
        {"trace_id": "t", "span_id": "l", "kind": "llm", "output_text": "x"}], format="records")
    res = lo.evaluate(spans, RetrievalMetrics(k=2), cache=False, progress=False)
    got = dict(zip(res["evaluator"], res["score"]))
    assert got == {"retrieval.hit_rate": 1.0, "retrieval.precision@2": 0.5, "retrieval.recall@2": 0.5,
                   "retrieval.mrr": 0.5, "retrieval.ndcg@2": pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))}
    assert res["span_id"].eq("r").all()  # only the retriever span has documents
    gold_fn = RetrievalMetrics(k=1, gold_fn=lambda row: {"kb-1"})
    assert gold_fn.evaluate({"documents": [{"id": "kb-1"}]})["precision@1"] == 1.0


def test_claim_faithfulness_scores_the_supported_share_and_lists_unsupported_claims():
    from llmops_nb.evals import ClaimFaithfulness

    reply = ('{"reasoning": "one claim is not in the context", "claims": ['
             '{"claim": "Refunds take 5 business days", "supported": true, "evidence": "kb-1"},'
             '{"claim": "Refunds are doubled after 120 days", "supported": false, "evidence": "not in the context"}],'
             '"answer": 0.5}')
    rows = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "input_text": "refund?",
                            "output_text": "Refunds take 5 business days. Refunds are doubled after 120 days.",
                            "documents": [{"id": "kb-1", "content": "Refunds take 5 business days."}]}], format="records")
    res = lo.evaluate(rows, ClaimFaithfulness(extra={"mock_response": reply}), cache=False, progress=False)
    r = res.iloc[0]
    assert r["value"] == 0.5 and r["score"] == 0.5 and r["passed"] == False  # noqa: E712
    assert r["explanation"].startswith("1 of 2 claims supported; unsupported: Refunds are doubled after 120 days")
    lenient = lo.evaluate(rows, ClaimFaithfulness(threshold=0.5, extra={"mock_response": reply}), cache=False,
                          progress=False)
    assert lenient.iloc[0]["passed"] == True  # noqa: E712
    bad = lo.evaluate(rows, ClaimFaithfulness(extra={"mock_response": '{"answer": 1.0}'}), cache=False, progress=False)
    assert "no 'claims' list" in bad.iloc[0]["error"]
