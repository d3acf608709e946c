"""LLM judges through litellm against a local fault-injecting server (FakeLLMServer)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _judge_helpers import FAKE_MODEL, register_price, responder, spans_frame  # noqa: E402

import llmops_nb as lo  # noqa: E402
from llmops_nb.evals import (  # noqa: E402
    GoalCompletion,
    Groundedness,
    JudgeParseError,
    LLMJudge,
    Pairwise,
    Runner,
    Toxicity,
    examples_from_labels,
    load_evaluator,
    parse_judge_json,
)
from llmops_nb.testing import FakeLLMServer, FaultConfig  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _price():
    register_price()


def judge(srv, **kw):
    return LLMJudge("Does the answer say ok?", model=FAKE_MODEL, api_base=srv.url, api_key="x", **kw)


def test_faults_every_row_ends_as_value_or_error_and_rerun_hits_cache(tmp_path):
    spans = spans_frame(48)
    faults = FaultConfig(rate_429=0.12, rate_500=0.12, rate_timeout=0.05, rate_malformed=0.1, timeout_s=2, seed=7)
    with FakeLLMServer(responder=responder, faults=faults) as srv:
        runner = Runner(concurrency=12, cache=tmp_path / "c.sqlite", timeout_s=0.5, backoff_base_s=0.05)
        res = lo.evaluate(spans, judge(srv), runner=runner, progress=False)
        counts = dict(srv.status_counts)
        assert counts.get(429, 0) > 0 and counts.get(500, 0) > 0 and counts.get(0, 0) > 0  # faults happened
        # none lost: one row per span, each a value or an error
        assert len(res) == 48 and set(res["span_id"]) == set(spans["span_id"])
        assert ((res["value"].notna()) ^ (res["error"].notna())).all()
        malformed = res[res["error"].notna()]
        assert len(malformed) > 0
        assert malformed["error"].str.contains("unparseable judge answer").all()
        assert malformed["error"].str.contains("malformed").all()  # the raw text is kept
        ok = res[res["error"].isna()]
        want = ["ok" in t for t in spans.set_index("span_id").loc[ok["span_id"], "output_text"]]
        assert ok["value"].tolist() == want
        # rerun: the answered rows come from the cache (same values, zero cost); the unparseable
        # answers were not cached, so only they are asked again
        before = srv.calls
        again = lo.evaluate(spans, judge(srv), cache=tmp_path / "c.sqlite", concurrency=8, progress=False).set_index("span_id")
        assert again.loc[ok["span_id"], "value"].tolist() == ok["value"].tolist()
        assert again.loc[ok["span_id"], "cost_usd"].sum() == 0.0
        assert 1 <= srv.calls - before <= len(malformed), (srv.calls - before, len(malformed))


def test_cost_equals_price_map_for_reported_tokens(tmp_path):
    import litellm

    spans = spans_frame(12)
    with FakeLLMServer(responder=responder) as srv:
        runner = Runner(concurrency=4, cache=False)
        res = lo.evaluate(spans, judge(srv), runner=runner, progress=False)
    info = litellm.model_cost[FAKE_MODEL]
    expected = (res["prompt_tokens"].astype(float) * info["input_cost_per_token"]
                + res["completion_tokens"].astype(float) * info["output_cost_per_token"])
    assert (res["prompt_tokens"] > 10).all()
    assert res["cost_usd"].tolist() == pytest.approx(expected.tolist(), rel=1e-9)
    led = runner.ledger().set_index("model").loc[FAKE_MODEL]
    assert led["calls"] == 12 and led["cost_usd"] == pytest.approx(expected.sum(), rel=1e-9)
    assert led["prompt_tokens"] == res["prompt_tokens"].sum()


def test_budget_stop_then_resume(tmp_path, store):
    spans = spans_frame(12)
    with FakeLLMServer(responder=responder) as srv:
        one = lo.evaluate(spans.head(1), judge(srv), cache=False, progress=False)
        per_call = float(one["cost_usd"].iloc[0])
        budget = per_call * 4.5
        res = lo.evaluate(spans, judge(srv), store=store, run_id="r1", budget_usd=budget, concurrency=1,
                          cache=tmp_path / "c.sqlite", progress=False)
        done = res[res["error"].isna()]
        stopped = res[res["error"].notna()]
        assert len(res) == 12
        assert 1 <= len(done) <= 4 and res["cost_usd"].sum() <= budget + 1e-12
        assert stopped["error"].str.startswith("budget exhausted").all() and len(stopped) == 12 - len(done)
        assert len(store.results()) == 12  # partial results kept in the store
        calls_before = srv.calls
        res2 = lo.evaluate(spans, judge(srv), store=store, run_id="r1", budget_usd=1.0, concurrency=4,
                           cache=tmp_path / "c.sqlite", progress=False)
        assert srv.calls - calls_before == len(stopped)  # done rows were not redone
        assert len(res2) == len(stopped)
    final = store.results("run_id = 'r1'")
    assert len(final) == 12 and final["error"].isna().all()
    assert sorted(final["span_id"]) == sorted(spans["span_id"])


def test_retries_exhausted_become_error_rows():
    spans = spans_frame(3)
    with FakeLLMServer(responder=responder, faults=FaultConfig(plan=["500"] * 6)) as srv:
        res = lo.evaluate(spans, judge(srv), cache=False, max_retries=1, concurrency=1, progress=False)
    assert len(res) == 3
    assert res["error"].notna().sum() >= 2
    assert res["error"].dropna().str.contains("InternalServerError").all()


def test_runs_inside_a_running_event_loop(tmp_path):
    spans = spans_frame(5)
    with FakeLLMServer(responder=responder) as srv:
        async def cell():  # what a Jupyter cell does: sync API inside a running loop
            return lo.evaluate(spans, judge(srv), cache=False, progress=False)

        res = asyncio.run(cell())
    assert len(res) == 5 and res["error"].isna().all()


def test_judge_prompt_and_output_types_with_mock_response():
    row = {"input_text": "Is it safe?", "output_text": "You idiot.", "documents": [{"content": "doc A"}]}
    tox = Toxicity(extra={"mock_response": '{"reasoning": "insult", "answer": "Severe"}'})
    out = tox.evaluate_sync(row)
    assert out.value == "severe" and out.passed is False and out.cost_usd == 0.0
    ordinal = LLMJudge("Rate clarity", output="ordinal", extra={"mock_response": "```json\n{'reasoning': 'clear', 'answer': 4}\n```"})
    o = ordinal.evaluate_sync(row)
    assert o.value == 4 and o.score == 4.0 and o.passed is True
    out_of_scale = LLMJudge("Rate clarity", output="ordinal", extra={"mock_response": '{"answer": 9}'}).evaluate_sync(row)
    assert out_of_scale.value is None and "expected an integer from 1 to 5" in out_of_scale.error
    g = Groundedness()
    msg = g.messages(row)[1]["content"]
    assert "<context>" in msg and "doc A" in msg and "groundedness" in msg
    assert '"reasoning"' in g.messages(row)[0]["content"] and '"answer"' in g.messages(row)[0]["content"]


def test_judge_spec_roundtrip_never_saves_api_key():
    j = LLMJudge("Is it polite?", model="openai/x", api_base="http://127.0.0.1:1/v1", api_key="secret")
    spec = j.spec()
    assert spec["name"] == "llm_judge" and "api_key" not in spec["params"]
    again = load_evaluator(spec, api_key="secret")
    assert again.params_hash == j.params_hash and again.api_key == "secret"


@pytest.mark.parametrize("raw, answer", [
    ('{"reasoning": "r", "answer": "pass"}', "pass"),
    ("Here you go:\n```json\n{\"reasoning\": \"r\", \"answer\": \"fail\"}\n```\nThanks!", "fail"),
    ("{'reasoning': 'single quotes', 'answer': 'pass',}", "pass"),
    ('Verdict below.\n{"reasoning": "has {braces} inside", "answer": 3} trailing prose', 3),
    ('{"reasoning": "r", "answer": true}', True),
])
def test_tolerant_parser(raw, answer):
    assert parse_judge_json(raw)["answer"] == answer


@pytest.mark.parametrize("raw", ["", "I think it is fine", "{not json at all"])
def test_parser_rejects_unparseable(raw):
    with pytest.raises(JudgeParseError):
        parse_judge_json(raw)


def _pair_responder(biased: bool):
    def answer(req):
        text = req["messages"][-1]["content"]
        if biased:
            return json.dumps({"reasoning": "first is better", "answer": "A"})
        a = text.split("<response_A>")[1].split("</response_A>")[0]
        return json.dumps({"reasoning": "has detail", "answer": "A" if "detailed" in a else "B"})
    return answer


def test_pairwise_swaps_order_to_cancel_position_bias():
    frame = pd.DataFrame({"trace_id": ["t1", "t2"], "input_text": ["q1", "q2"],
                          "output_a": ["short", "a detailed answer"], "output_b": ["a detailed answer", "short"]})
    with FakeLLMServer(responder=_pair_responder(False)) as srv:
        pw = Pairwise("Which answer is more detailed?", model=FAKE_MODEL, api_base=srv.url, api_key="x")
        res = lo.evaluate(frame, pw, cache=False, progress=False)
        assert res["value"].tolist() == ["b", "a"] and res["score"].tolist() == [0.0, 1.0]
        assert srv.calls == 4
    with FakeLLMServer(responder=_pair_responder(True)) as srv:
        pw = Pairwise("Which answer is more detailed?", model=FAKE_MODEL, api_base=srv.url, api_key="x")
        res = lo.evaluate(frame, pw, cache=False, progress=False)
        assert res["value"].tolist() == ["tie", "tie"]
        assert res["explanation"].str.contains("position bias").all()


def test_few_shot_examples_from_labels_reach_the_prompt():
    spans = spans_frame(6)
    traces = lo.to_traces(spans)
    labels = pd.DataFrame({
        "label_id": ["l1", "l2", "l3"], "trace_id": ["t0000", "t0001", "t0000"], "span_id": [None] * 3,
        "question": ["pass_fail"] * 3, "value": [True, True, False], "action": ["set", "set", "edit"],
        "annotator": ["ann"] * 3, "reason": ["looks fine", "says ok", "says wrong"],
        "created_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True)})
    ex = examples_from_labels(labels, traces, k=4)
    by_input = {e["input"]: e for e in ex}
    assert by_input["question 0?"]["answer"] == "fail"  # the edit wins
    assert by_input["question 1?"]["answer"] == "pass"
    j = LLMJudge("ok?").with_examples(labels, traces)
    msg = j.messages({"input_text": "q", "output_text": "a"})[1]["content"]
    assert "says wrong" in msg and "<example>" in msg
    assert load_evaluator(j.spec()).examples == j.examples  # saved with the evaluator


def test_goal_completion_reads_the_whole_trace():
    recs = []
    for t in range(3):
        recs += [
            {"trace_id": f"t{t}", "span_id": f"r{t}", "kind": "agent", "name": "agent", "input_text": f"refund order {t}",
             "output_text": "done ok", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:02Z"},
            {"trace_id": f"t{t}", "span_id": f"c{t}", "parent_span_id": f"r{t}", "kind": "tool", "name": "refund",
             "tool_name": "refund", "tool_arguments": json.dumps({"order": t}), "tool_result": "refunded",
             "start_time": "2026-01-01T00:00:01Z", "end_time": "2026-01-01T00:00:01.5Z"},
        ]
    spans = lo.read_traces(recs, format="records")
    seen = []

    def resp(req):
        seen.append(req["messages"][-1]["content"])
        return '{"reasoning": "refund made", "answer": "pass"}'

    with FakeLLMServer(responder=resp) as srv:
        res = lo.evaluate(spans, GoalCompletion(model=FAKE_MODEL, api_base=srv.url, api_key="x"), cache=False,
                          progress=False)
    assert len(res) == 3 and res["span_id"].isna().all() and res["value"].all()
    assert all("[tool] refund" in s and "agent goal completion" in s for s in seen), seen[0]
