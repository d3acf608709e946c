"""The evaluator model: protocol, decorator, save/reload, params hash, error rows, resume, wide."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import (
    EvaluationReason,
    Evaluator,
    IsJSON,
    Regex,
    evaluator,
    load_evaluator,
    registered_evaluators,
)
from llmops_nb.schema import RESULTS


def spans(n=4):
    return lo.read_traces([{"trace_id": f"t{i // 2}", "span_id": f"s{i}", "kind": "llm", "input_text": f"q{i}",
                            "output_text": f"answer {i}"} for i in range(n)], format="records")


@dataclass(repr=False)
class WordCount(Evaluator):
    version = "2"
    threshold = 2
    min_words: int = 1

    def evaluate(self, row):
        return len(row["output_text"].split())


@evaluator
def has_digit(row, digit="1"):
    return EvaluationReason(digit in row["output_text"], f"looked for {digit}")


@evaluator(name="async_len")
async def async_len(row):
    return float(len(row["output_text"]))


@evaluator
def multi(row):
    return {"chars": len(row["output_text"]), "short": len(row["output_text"]) < 9, "kind": "text"}


@evaluator
def boom(row):
    if row["span_id"] == "s1":
        raise RuntimeError("bad row")
    return True


def test_every_builtin_roundtrips_through_its_spec():
    for name in registered_evaluators():
        cls = load_evaluator.__globals__["_REGISTRY"][name]
        if not isinstance(cls, type):
            continue
        try:
            ev = cls()
        except (TypeError, ValueError):
            continue  # needs arguments (pattern, schema, rubric ...)
        again = load_evaluator(ev.spec())
        assert type(again) is type(ev) and again.params_hash == ev.params_hash, name


def test_spec_saves_non_default_arguments_only():
    ev = Regex("^OK", flags="i")
    assert ev.spec() == {"name": "regex", "params": {"pattern": "^OK", "flags": "i"}}
    assert load_evaluator({"regex": {"pattern": "^OK", "flags": "i"}}).params_hash == ev.params_hash
    assert Regex("^OK").params_hash != ev.params_hash
    wc = WordCount(min_words=3).spec()
    assert wc["name"] == "word_count" and wc["params"] == {"min_words": 3}
    assert wc["class"].endswith(":WordCount")  # a user evaluator says where it lives
    with pytest.raises(KeyError, match="registered"):
        load_evaluator("no_such_evaluator")


def test_function_evaluators_and_output_kinds():
    res = lo.evaluate(spans(), [has_digit(digit="2"), async_len, multi, WordCount()], cache=False, progress=False)
    assert set(res.columns) == set(RESULTS.names)
    hd = res[res["evaluator"] == "has_digit"]
    assert hd["value"].tolist() == [False, False, True, False] and hd["explanation"].iloc[0] == "looked for 2"
    assert hd["params"].iloc[0] == {"digit": "2"}
    al = res[res["evaluator"] == "async_len"]
    assert al["score"].tolist() == [8.0] * 4 and al["passed"].isna().all()
    assert set(res["evaluator"]) >= {"multi.chars", "multi.short", "multi.kind"}
    kind = res[res["evaluator"] == "multi.kind"]
    assert kind["label"].tolist() == ["text"] * 4 and kind["score"].isna().all()
    wc = res[res["evaluator"] == "word_count"]
    assert wc["passed"].tolist() == [True] * 4 and wc["evaluator_version"].iloc[0] == "2"
    # a decorated function is rebuilt from its spec
    again = load_evaluator(has_digit(digit="2").spec())
    assert again.evaluate({"output_text": "2"}).value is True


def test_an_evaluator_that_raises_gives_an_error_row_and_the_run_goes_on():
    res = lo.evaluate(spans(), [boom, IsJSON()], cache=False, progress=False)
    b = res[res["evaluator"] == "boom"].set_index("span_id")
    assert len(b) == 4 and b.loc["s1", "error"] == "RuntimeError: bad row" and b.loc["s1", "value"] is None
    assert b.drop("s1")["value"].tolist() == [True, True, True]
    assert (res["evaluator"] == "is_json").sum() == 4


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="distinct name"):
        lo.evaluate(spans(), [Regex("a"), Regex("b")], cache=False)
    res = lo.evaluate(spans(), [Regex("a"), Regex("b", name="has_b")], cache=False, progress=False)
    assert set(res["evaluator"]) == {"regex", "has_b"}


def test_resume_skips_done_rows(store):
    calls = []

    @evaluator(name="counting")
    def counting(row):
        calls.append(row["span_id"])
        if row["span_id"] == "s2" and len(calls) <= 4:
            raise RuntimeError("flaky")
        return True

    lo.evaluate(spans(), counting, store=store, run_id="run-a", progress=False)
    assert len(calls) == 4
    res = lo.evaluate(spans(), counting, store=store, run_id="run-a", progress=False)
    assert calls[4:] == ["s2"] and len(res) == 1  # only the failed row is redone
    stored = store.results("run_id = 'run-a'")
    assert len(stored) == 4 and stored["error"].isna().all()


def test_wide_on_spans_and_traces():
    sp = spans()
    traces = lo.to_traces(sp)

    @evaluator(level="trace", name="n_spans_seen")
    def n_spans_seen(row):
        return len(row["spans"])

    res = pd.concat([lo.evaluate(sp, [IsJSON(), n_spans_seen], cache=False, progress=False)], ignore_index=True)
    t = res[res["evaluator"] == "n_spans_seen"]
    assert t["span_id"].isna().all() and t["value"].tolist() == [2, 2]
    w = lo.wide(sp, res)
    assert w["is_json"].tolist() == [False] * 4 and w["n_spans_seen"].tolist() == [2] * 4
    wt = lo.wide(traces, res, explanations=True)
    assert wt["n_spans_seen"].tolist() == [2, 2] and "n_spans_seen__explanation" in wt.columns
    assert "is_json" not in wt.columns  # span results do not join onto traces
    assert len(sp.columns) == 30  # the input is not mutated


def test_progress_bar_runs(capsys):
    res = lo.evaluate(spans(), IsJSON(), cache=False, progress=True)
    assert len(res) == 4
