"""Judge alignment: LLMBar's published accuracy reproduced exactly, metrics, splits, and the
coverage of the bias-corrected pass rate on the simulated app with a simulated judge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.annotation import corrected_pass_rate, pairwise_bias, rogan_gladen, split_items

LLMBAR = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "LLMBar" / "Dataset" / "LLMBar" / "Natural"


def _llmbar(strategy: str) -> tuple[pd.DataFrame, dict]:
    if not LLMBAR.exists():
        pytest.skip(f"shared fixture folder {LLMBAR} is absent")
    data = json.loads((LLMBAR / "dataset.json").read_text())
    res = json.loads((LLMBAR / "evaluators" / "GPT-4" / strategy / "result.json").read_text())
    stats = json.loads((LLMBAR / "evaluators" / "GPT-4" / strategy / "statistics.json").read_text())
    assert [r["input"] for r in res] == [d["input"] for d in data]
    frame = pd.DataFrame({
        "item_id": [f"llmbar-{i}" for i in range(len(data))],
        "gold": [str(d["label"]) for d in data],
        "winner": [r["results"][-1]["swap = False"]["winner"] for r in res],
        "winner_swapped": [r["results"][-1]["swap = True"]["winner"] for r in res],
        "len_a": [len(d["output_1"]) for d in data],
        "len_b": [len(d["output_2"]) for d in data],
    })
    return frame, stats


def _published(s: str) -> float:
    # "95 / 100 = 95.0%" or "95.5%"
    return float(s.rsplit("=", 1)[-1].strip().rstrip("%")) / 100


@pytest.mark.parametrize("strategy", ["Vanilla", "Rating"])
def test_llmbar_accuracy_matches_published_statistics(strategy):
    frame, stats = _llmbar(strategy)
    human = pd.Series(frame["gold"].values, index=frame["item_id"])
    a_false = lo.align(frame[["item_id", "winner"]].rename(columns={"winner": "passed"}), human, positive="1", n_boot=200)
    a_true = lo.align(pd.Series(frame["winner_swapped"].values, index=frame["item_id"]), human, positive="1", n_boot=200)
    assert a_false["n"] == 100 and a_true["n"] == 100
    assert a_false["accuracy"] == _published(stats["correct_False"])
    assert a_true["accuracy"] == _published(stats["correct_True"])
    assert (a_false["accuracy"] + a_true["accuracy"]) / 2 == pytest.approx(_published(stats["correct_average"]), abs=1e-12)
    bias = pairwise_bias(frame, gold="gold")
    assert bias.loc["accuracy_both_orders", "value"] == _published(stats["correct_both"])
    assert bias.loc["consistency", "value"] == _published(stats["equal"])  # position consistency
    lo_, hi = a_false.metrics.loc["accuracy", ["lo", "hi"]]
    assert lo_ < a_false["accuracy"] < hi


def test_llmbar_position_and_length_bias_checks():
    frame, _ = _llmbar("Vanilla")
    b = pairwise_bias(frame, gold="gold")
    assert {"first_position_rate", "consistency", "longer_wins_rate", "accuracy"} <= set(b.index)
    assert 0 <= b.loc["first_position_rate", "p_value"] <= 1
    assert b.loc["first_position_rate", "n"] == 200
    assert 0.4 < b.loc["longer_wins_rate", "gold_longer_rate"] < 0.7


def test_binary_metrics_by_hand():
    judge = [True, True, True, False, False, True, False, False, True, True]
    human = [True, True, False, False, True, True, False, False, True, False]
    a = lo.align(judge, human, n_boot=300)
    # tp=4 fp=2 fn=1 tn=3
    assert a["tpr"] == 4 / 5 and a["recall"] == 4 / 5 and a["tnr"] == 3 / 5
    assert a["precision"] == 4 / 6 and a["accuracy"] == 7 / 10
    assert a["f1"] == pytest.approx(2 * 4 / (6 + 5))
    from sklearn.metrics import cohen_kappa_score

    assert a["kappa"] == pytest.approx(cohen_kappa_score(judge, human))
    assert (a.metrics["lo"].drop("n") <= a.metrics["value"].drop("n") + 1e-12).all()
    assert a.confusion.loc[True, False] == 1  # human pass, judge fail


def test_align_from_results_and_labels_tables(store):
    results = pd.DataFrame({"result_id": [f"r{i}" for i in range(6)], "trace_id": [f"t{i}" for i in range(6)],
                            "evaluator": "judge", "passed": [True, False, True, True, False, True]})
    store.add_results(results)
    w = lo.annotate(pd.DataFrame({"trace_id": [f"t{i}" for i in range(4)]}), "correct", store, "alice",
                    queue="sequential")
    for v in (True, False, False, True):
        w.session.submit(w.session.current, {"correct": v})
    a = lo.align(store.results(), store, evaluator="judge", question="correct", n_boot=200)
    assert a["n"] == 4 and a["accuracy"] == 0.75
    assert sorted(a.unlabelled.index) == ["t4", "t5"]
    assert a.corrected is not None and 0 <= a.corrected.lo <= a.corrected.hi <= 1


def test_splits_are_deterministic_and_proportional():
    ids = [f"item-{i}" for i in range(5000)]
    s = split_items(ids)
    assert s.equals(split_items(list(reversed(ids))).loc[ids])
    share = s.value_counts(normalize=True)
    assert abs(share["train"] - 0.2) < 0.03 and abs(share["dev"] - 0.4) < 0.03
    a = lo.align(pd.Series([True, False] * 50, index=ids[:100]), pd.Series([True] * 100, index=ids[:100]), n_boot=50)
    assert a.split("test")["n"] == (a.pairs["split"] == "test").sum()


def test_rogan_gladen_formula():
    assert rogan_gladen(0.62, 0.9, 0.8) == pytest.approx(0.6)
    assert rogan_gladen(0.99, 0.9, 0.8) == 1.0  # clipped
    assert np.isnan(rogan_gladen(0.5, 0.5, 0.5))


@pytest.fixture(scope="module")
def demo():
    from llmops_nb.demo import generate

    return generate(300, seed=11)


def test_corrected_rate_covers_truth_on_simulated_app(demo):
    """40 seeds of the simulated judge (known error rates) on the simulated app: the 95% interval
    of the corrected pass rate covers the unlabelled items' true pass rate in >= 90% of them."""
    from llmops_nb.demo import SimJudge

    spans = demo.spans
    roots = spans[spans["parent_span_id"].isna()]
    prompts = {t: f"Criterion: overall quality\n<input>\n{i}\n</input>\n<output>\n{o}\n</output>"
               for t, i, o in zip(roots["trace_id"], roots["input_text"], roots["output_text"])}
    truth = demo.truth.set_index("trace_id")["failed"].map(lambda f: not f)
    ids = list(prompts)
    covered, seeds = 0, range(40)
    judge = SimJudge(demo.truth, spans, fpr=0.15, fnr=0.10)
    for seed in seeds:
        judge.seed = seed  # the judge's errors are drawn per (seed, trace)
        verdict = pd.Series({t: judge.answer([{"role": "user", "content": p}])["answer"] == "pass"
                             for t, p in prompts.items()})
        rng = np.random.default_rng(seed)
        labelled = list(rng.choice(ids, 120, replace=False))
        a = lo.align(verdict, truth.loc[labelled], n_boot=1000, seed=seed)
        rest = truth.drop(labelled)
        assert a.corrected is not None and a.corrected.n_unlabelled == len(rest)
        covered += a.corrected.lo <= rest.mean() <= a.corrected.hi
    assert covered / len(seeds) >= 0.9


def test_corrected_rate_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        corrected_pass_rate([True, False], [True, True], [True])
