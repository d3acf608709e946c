"""Judges fail fast on configuration errors, never judge nothing, and retry only what failed:
against the local fake server (llmops_nb.testing.FakeLLMServer), which can answer 401/403/404/400."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _judge_helpers import FAKE_MODEL, register_price, responder, spans_frame  # noqa: E402

import llmops_nb as lo  # noqa: E402
from llmops_nb.evals import Groundedness, Helpfulness, IsJSON, LLMJudge  # noqa: E402
from llmops_nb.llm import CallCache, LLMConfigError, Runner  # noqa: E402
from llmops_nb.testing import FakeLLMServer, FaultConfig  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _price():
    register_price()


@pytest.fixture
def no_keys(monkeypatch):
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ADMIN_KEY"):
        monkeypatch.delenv(k, raising=False)


def judge(srv, **kw):
    kw.setdefault("api_key", "sk-test")
    return LLMJudge("Does the answer say ok?", model=FAKE_MODEL, api_base=srv.url, **kw)


def test_missing_key_stops_at_once_with_one_clear_error_and_charges_nothing(tmp_path, no_keys):
    """No OPENAI_API_KEY: litellm's "Missing credentials" (wrapped as a 500) is not retried."""
    spans = spans_frame(60)
    store = lo.Store(tmp_path / "s")
    with FakeLLMServer(responder=responder) as srv:
        t0 = time.perf_counter()
        with pytest.raises(LLMConfigError) as err:
            lo.evaluate(spans, [IsJSON(), judge(srv, api_key=None)], store=store, run_id="r", concurrency=8,
                        max_retries=8, progress=False)
        elapsed = time.perf_counter() - t0
        assert srv.requests == []  # nothing reached the server
    msg = str(err.value)
    print(f"missing key -> LLMConfigError after {elapsed:.2f} s: {msg[:160]}")
    assert elapsed < 5, elapsed
    assert "OPENAI_API_KEY" in msg and FAKE_MODEL in msg and "Not retried" in msg
    res = store.results()
    assert not (res["evaluator"] == "llm_judge").any() if len(res) else True  # no judge row charged or stored
    assert res["error"].isna().all() if len(res) else True  # and no error rows either


def test_a_refused_key_is_not_retried(tmp_path):
    spans = spans_frame(40)
    with FakeLLMServer(responder=responder, faults=FaultConfig(rate_401=1.0)) as srv:
        runner = Runner(concurrency=4, cache=False, max_retries=8, backoff_base_s=0.2)
        t0 = time.perf_counter()
        with pytest.raises(LLMConfigError, match="api_key= was refused"):
            lo.evaluate(spans, judge(srv, api_key="sk-wrong"), runner=runner, progress=False)
        assert time.perf_counter() - t0 < 5
        # only the calls already in flight when the first 401 came back, each asked once
        assert len(srv.requests) == srv.status_counts[401] <= runner.concurrency
        assert sum(led.retries for led in runner._ledger.values()) == 0
        # the runner stays stopped: a later call raises the same error without asking
        with pytest.raises(LLMConfigError):
            runner.run([judge(srv).call([{"role": "user", "content": "hi"}])])
        assert len(srv.requests) == srv.status_counts[401]


@pytest.mark.parametrize("fault, words", [("403", "permission denied"), ("404", "unknown"), ("400", "invalid")])
def test_permission_unknown_model_and_bad_request_stop_the_run(fault, words):
    spans = spans_frame(20)
    with FakeLLMServer(responder=responder, faults=FaultConfig(plan=[fault] * 20)) as srv:
        runner = Runner(concurrency=2, cache=False, max_retries=5, backoff_base_s=0.2)
        with pytest.raises(LLMConfigError, match=words):
            lo.evaluate(spans, judge(srv), runner=runner, progress=False)
        assert len(srv.requests) <= 2


def test_unknown_model_name_names_the_argument():
    spans = spans_frame(5)
    with pytest.raises(LLMConfigError, match=r"model 'no-such-provider-model' is unknown.*openai/<name>"):
        lo.evaluate(spans, LLMJudge("ok?", model="no-such-provider-model", api_key="x"), cache=False, progress=False)


def test_a_bad_request_after_calls_succeeded_is_that_rows_error():
    """Once the model has answered, a 400 is about one row (its content), not the configuration."""
    spans = spans_frame(6)
    with FakeLLMServer(responder=responder, faults=FaultConfig(plan=[None, "400"])) as srv:
        res = lo.evaluate(spans, judge(srv), runner=Runner(concurrency=1, cache=False), progress=False)
    assert len(res) == 6 and res["error"].notna().sum() == 1 and "BadRequest" in res["error"].dropna().iloc[0]


def test_a_frame_without_the_judges_fields_fails_before_any_call():
    frame = pd.DataFrame({"trace_id": ["a", "b"], "question": ["Where is my order?", "Refund?"],
                          "answer": ["It shipped, ok.", "No."]})
    with FakeLLMServer(responder=responder) as srv:
        with pytest.raises(ValueError) as err:
            lo.evaluate(frame, Helpfulness(model=FAKE_MODEL, api_base=srv.url, api_key="x"), cache=False, progress=False)
        msg = str(err.value)
        assert "'input_text'" in msg and "'output_text'" in msg  # the fields it reads
        assert "['trace_id', 'question', 'answer']" in msg  # the frame's columns
        assert "input_field=" in msg and "output_field=" in msg  # the arguments that map them
        assert srv.requests == []
        # mapped: it runs
        res = lo.evaluate(frame, Helpfulness(model=FAKE_MODEL, api_base=srv.url, api_key="x", input_field="question",
                                             output_field="answer"), cache=False, progress=False)
        assert len(res) == 2 and len(srv.requests) == 2  # (the fake answers pass/fail, not a 1-5 score)


def test_empty_values_give_an_error_row_or_no_row_never_a_prompt_with_empty_slots():
    spans = spans_frame(4)
    spans.loc[1, "output_text"] = ""
    spans.loc[2, "output_text"] = None
    with FakeLLMServer(responder=responder) as srv:
        res = lo.evaluate(spans, judge(srv), cache=False, progress=False).set_index("span_id")
        assert len(srv.requests) == 2  # the two rows with something to judge
        for sid in ("s0001", "s0002"):
            assert "empty on this row" in res.loc[sid, "error"] and "output_field=" in res.loc[sid, "error"]
        assert all("<output>\n\n</output>" not in r["messages"][1]["content"] for r in srv.requests)
        # no retrieved documents: groundedness does not apply (no row, no call)
        docs = spans.copy()
        docs["documents"] = [[{"id": "d", "content": "Orders ship in 2 days."}], None, [], None]
        before = len(srv.requests)
        g = lo.evaluate(docs, Groundedness(model=FAKE_MODEL, api_base=srv.url, api_key="x"), cache=False, progress=False)
        assert g["span_id"].tolist() == ["s0000"] and len(srv.requests) == before + 1


def test_resume_redoes_error_rows_and_unparseable_answers_are_never_cached(tmp_path):
    spans = spans_frame(12)
    store = lo.Store(tmp_path / "s")
    cache = tmp_path / "c.sqlite"
    plan = ["malformed"] * 3 + ["500"] * 2  # three garbage answers, then two rows whose only try fails
    with FakeLLMServer(responder=responder, faults=FaultConfig(plan=plan)) as srv:
        first = lo.evaluate(spans, judge(srv), store=store, run_id="r1", cache=cache, concurrency=1, max_retries=0,
                            progress=False)
        errors = first[first["error"].notna()]
        assert len(errors) == 5 and errors["error"].str.contains("unparseable").sum() == 3
        assert len(CallCache(cache)) == 12 - 5  # garbage is not cached
        asked = len(srv.requests)
        again = lo.evaluate(spans, judge(srv), store=store, run_id="r1", cache=cache, concurrency=1, progress=False)
        assert len(srv.requests) - asked == 5  # only the error rows, asked again
        assert len(again) == 5 and again["error"].isna().all()
        latest = store.results().sort_values("created_at").drop_duplicates(["trace_id", "span_id"], keep="last")
        assert len(latest) == 12 and latest["error"].isna().all()
        # a third run with the same id has nothing left to do
        assert len(lo.evaluate(spans, judge(srv), store=store, run_id="r1", cache=cache, progress=False)) == 0
        assert len(srv.requests) - asked == 5


def test_a_garbage_answer_cached_by_an_older_version_is_asked_again(tmp_path):
    spans = spans_frame(3)
    cache = CallCache(tmp_path / "c.sqlite")
    with FakeLLMServer(responder=responder) as srv:
        j = judge(srv)
        for _, r in spans.iterrows():
            cache.put(j.call(j.messages(r.to_dict())).cache_key(), FAKE_MODEL, {"text": "no json here"})
        cache.flush()
        res = lo.evaluate(spans, j, cache=tmp_path / "c.sqlite", progress=False)
        assert res["error"].isna().all() and len(srv.requests) == 3
