"""Reference metrics shipped as Hugging Face `evaluate` modules: values equal rouge_score / sacrebleu."""

from __future__ import annotations

import pandas as pd
import pytest
import sacrebleu
from rouge_score import rouge_scorer

import llmops_nb as lo
from llmops_nb.evals import BLEU, CHRF, EmbeddingSimilarity, ExactMatchMetric, Rouge, load_metric
from llmops_nb.evals._metrics import shipped_metrics

PREDS = ["the cat sat on the mat", "a quick brown fox jumps", "hello world", "refunds take five business days"]
REFS = ["the cat is sitting on the mat", "the quick brown fox jumped over", "goodbye world", "a refund takes 5 business days"]


def test_shipped_metrics_load_offline():
    assert {"exact_match", "rouge", "bleu", "chrf", "embedding_similarity"} <= set(shipped_metrics())
    m = load_metric("exact_match")
    assert m.compute(predictions=["a", "B"], references=["a", "b"], ignore_case=True)["exact_match"] == 1.0


def test_unknown_metric_passes_through_to_hub_and_fails_offline_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="Shipped metrics that work offline"):
        load_metric("sacrebleu_not_shipped_xyz")


def test_rouge_equals_rouge_score():
    m = load_metric("rouge")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
    per = m.compute(predictions=PREDS, references=REFS, per_item=True)
    mean = m.compute(predictions=PREDS, references=REFS)
    for t in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        want = [scorer.score(r, p)[t].fmeasure for p, r in zip(PREDS, REFS)]
        assert per[t] == pytest.approx(want, abs=1e-12)
        assert mean[t] == pytest.approx(sum(want) / len(want), abs=1e-12)
    stem = load_metric("rouge").compute(predictions=PREDS, references=REFS, use_stemmer=True, per_item=True)
    s2 = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert stem["rougeL"] == pytest.approx([s2.score(r, p)["rougeL"].fmeasure for p, r in zip(PREDS, REFS)])


def test_bleu_and_chrf_equal_sacrebleu():
    bleu = load_metric("bleu").compute(predictions=PREDS, references=REFS)
    assert bleu["score"] == pytest.approx(sacrebleu.corpus_bleu(PREDS, [REFS]).score, abs=1e-12)
    multi = [[r, r.upper()] for r in REFS]
    assert load_metric("bleu").compute(predictions=PREDS, references=multi)["score"] == pytest.approx(
        sacrebleu.corpus_bleu(PREDS, [REFS, [r.upper() for r in REFS]]).score)
    per = load_metric("bleu").compute(predictions=PREDS, references=REFS, per_item=True)["score"]
    assert per == pytest.approx([sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDS, REFS)])
    chrf = load_metric("chrf").compute(predictions=PREDS, references=REFS)
    assert chrf["score"] == pytest.approx(sacrebleu.corpus_chrf(PREDS, [REFS]).score)
    chrfpp = load_metric("chrf").compute(predictions=PREDS, references=REFS, word_order=2, per_item=True)["score"]
    ref = sacrebleu.CHRF(word_order=2)
    assert chrfpp == pytest.approx([ref.sentence_score(p, [r]).score for p, r in zip(PREDS, REFS)])


def test_metric_evaluators_per_row():
    frame = pd.DataFrame({"trace_id": [f"t{i}" for i in range(4)], "span_id": [f"s{i}" for i in range(4)],
                          "output_text": PREDS, "reference": REFS})
    res = lo.evaluate(frame, [Rouge(), BLEU(), CHRF(), ExactMatchMetric(), EmbeddingSimilarity(threshold=0.5)],
                      cache=False, progress=False)
    assert res["error"].isna().all() and len(res) == 20
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    assert res[res["evaluator"] == "rougeL"]["score"].tolist() == pytest.approx(
        [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(PREDS, REFS)])
    assert res[res["evaluator"] == "bleu"]["score"].tolist() == pytest.approx(
        [sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDS, REFS)])
    emb = res[res["evaluator"] == "embedding_similarity"]
    assert emb["score"].between(0, 1.0000001).all() and emb["passed"].notna().all()
    # a single row gives the same value as the batch
    assert Rouge().evaluate({"output_text": PREDS[0], "reference": REFS[0]}) == pytest.approx(
        res[res["evaluator"] == "rougeL"]["score"].iloc[0])


def test_embedding_similarity_through_a_litellm_embedding_server():
    from llmops_nb.testing import FakeLLMServer

    with FakeLLMServer() as srv:
        m = load_metric("embedding_similarity")
        out = m.compute(predictions=["same text", "x"], references=["same text", "y"], model="openai/fake-embed",
                        api_base=srv.url, api_key="x", per_item=True)
    assert out["similarity"][0] == pytest.approx(1.0) and out["similarity"][1] < 1.0
