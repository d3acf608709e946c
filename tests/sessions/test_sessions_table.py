"""The sessions table: turns in order, aggregates, singletons, session-level outcomes, and the
session-level rule checks through ``evaluate`` (ordinary result rows keyed by session_id)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import EscalationReached, RepeatedUserMessages, ToolLoop, TurnCount
from llmops_nb.schema import SESSIONS


def turn(trace, session, t, q, a, tools=(), user="u1", meta=None):
    recs = [{"trace_id": trace, "span_id": f"{trace}-root", "kind": "agent", "session_id": session, "user_id": user,
             "input_text": q, "output_text": a, "start_time": f"2026-01-01T00:{t:02d}:00Z",
             "end_time": f"2026-01-01T00:{t:02d}:30Z", "metadata": meta or {"turn": t}, "tags": [f"t{t}"]}]
    for i, (name, args, status) in enumerate(tools):
        recs.append({"trace_id": trace, "span_id": f"{trace}-tool{i}", "parent_span_id": f"{trace}-root",
                     "kind": "tool", "tool_name": name, "tool_arguments": json.dumps(args), "status": status,
                     "start_time": f"2026-01-01T00:{t:02d}:{10 + i:02d}Z", "end_time": f"2026-01-01T00:{t:02d}:{11 + i:02d}Z",
                     "session_id": session})
    recs.append({"trace_id": trace, "span_id": f"{trace}-llm", "parent_span_id": f"{trace}-root", "kind": "llm",
                 "model": "gpt-4o-mini", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                 "cost_usd": 0.001, "start_time": f"2026-01-01T00:{t:02d}:20Z", "end_time": f"2026-01-01T00:{t:02d}:25Z"})
    return recs


@pytest.fixture
def spans():
    recs = [
        # written out of order: the table puts turns in time order
        *turn("b2", "S-b", 7, "I asked already: where is order ORD-1?", "Please hold.",
              tools=[("lookup", {"id": "ORD-1"}, "ok"), ("track", {"id": "ORD-1"}, "ok"),
                     ("lookup", {"id": "ORD-1"}, "ok"), ("lookup", {"id": "ORD-1"}, "error")]),
        *turn("a1", "S-a", 1, "Hi, my order ORD-7 is late", "It ships today.", tools=[("lookup", {"id": "ORD-7"}, "ok")],
              meta={"channel": "web", "turn": 1}),
        *turn("b1", "S-b", 5, "Where is order ORD-1?", "Thanks for reaching out!", meta={"channel": "sms", "turn": 1}),
        *turn("a2", "S-a", 3, "Thanks, bye", "Let me transfer you to a human agent.",
              tools=[("escalate_to_human", {"q": "x"}, "ok")]),
        *turn("solo", None, 9, "One question", "One answer"),
    ]
    return lo.read_traces(recs, format="records")


def test_one_row_per_session_with_turns_in_order(spans):
    s = lo.to_sessions(spans)
    assert list(s.columns) == SESSIONS.names
    assert s["session_id"].tolist() == ["S-a", "S-b"]
    b = s.set_index("session_id").loc["S-b"]
    assert b["trace_ids"] == ["b1", "b2"] and b["n_turns"] == 2
    assert b["user_inputs"] == ["Where is order ORD-1?", "I asked already: where is order ORD-1?"]
    assert b["assistant_outputs"] == ["Thanks for reaching out!", "Please hold."]
    assert b["input_text"] == "Where is order ORD-1?" and b["output_text"] == "Please hold."
    assert b["metadata"] == {"channel": "sms", "turn": 1}  # the first turn's metadata
    assert b["tools"] == ["lookup", "track", "lookup", "lookup"]
    assert [c["turn"] for c in b["tool_calls"]] == [2, 2, 2, 2] and b["tool_calls"][3]["status"] == "error"
    assert b["n_errors"] == 1 and bool(b["has_error"]) and b["n_tool"] == 4 and b["n_llm"] == 2
    assert b["total_tokens"] == 30 and b["cost_usd"] == pytest.approx(0.002)
    assert b["duration_ms"] == 150_000.0  # 00:05:00 -> 00:07:30
    assert b["models"] == ["gpt-4o-mini"] and b["user_id"] == "u1" and b["tags"] == ["t5", "t7"]


def test_the_index_of_the_spans_frame_does_not_matter(spans, tmp_path):
    """A frame from the store, filtered or concatenated, has an index that is not 0..n-1 (here
    reversed labels, then repeated labels): the table is the same as from a fresh frame."""
    want = lo.to_sessions(spans)
    shuffled = spans.set_axis(list(range(len(spans) * 10, 0, -10)))
    repeated = pd.concat([spans.iloc[:5], spans.iloc[5:]])  # labels 0..4 then 5..n, as is
    repeated.index = [i % 3 for i in range(len(spans))]
    store = lo.Store(tmp_path / "s")
    store.add_spans(spans)
    for frame in (shuffled, repeated, store.spans()):
        got = lo.to_sessions(frame)
        assert got["session_id"].tolist() == want["session_id"].tolist()
        assert got["n_turns"].tolist() == want["n_turns"].tolist()
        assert got["total_tokens"].tolist() == want["total_tokens"].tolist()


def test_singletons_only_when_asked(spans):
    assert "solo" not in set(lo.to_sessions(spans)["session_id"])
    s = lo.to_sessions(spans, singletons=True).set_index("session_id")
    assert s.loc["solo", "n_turns"] == 1 and s.loc["solo", "trace_ids"] == ["solo"]
    assert len(lo.to_sessions(spans.iloc[0:0])) == 0


def test_rule_checks_give_session_rows_and_outcome_columns(spans, store):
    sessions = lo.to_sessions(spans)
    res = lo.evaluate(sessions, [TurnCount(max_turns=1), RepeatedUserMessages(similarity=0.5), ToolLoop(),
                                 EscalationReached()], cache=False, progress=False, store=store)
    assert res["trace_id"].isna().all() and set(res["session_id"]) == {"S-a", "S-b"}
    v = res.set_index(["session_id", "evaluator"])["value"]
    assert v[("S-b", "repeated_user_messages")] is True and v[("S-a", "repeated_user_messages")] is False
    assert v[("S-b", "tool_loop")] is True and v[("S-a", "tool_loop")] is False
    assert v[("S-a", "escalation_reached")] is True and v[("S-b", "escalation_reached")] is False
    assert v[("S-a", "turn_count")] == 2.0
    expl = res.set_index(["session_id", "evaluator"])["explanation"]
    assert expl[("S-b", "tool_loop")] == 'lookup({"id": "ORD-1"}) called 3 times'
    # outcome columns from the results, latest row wins
    out = lo.wide(sessions, store.results(), values="passed").set_index("session_id")
    assert out.loc["S-b", "tool_loop"] == False and out.loc["S-a", "tool_loop"] == True  # noqa: E712
    assert out.loc["S-a", "turn_count"] == False and out.loc["S-a", "escalation_reached"] == False  # noqa: E712
    # the deprecated spelling warns, names the new one, and gives the same outcome columns
    with pytest.warns(DeprecationWarning, match=r"lo\.wide\(lo\.to_sessions\(spans\), results"):
        old = lo.to_sessions(spans, store.results(), values="passed").set_index("session_id")
    cols = ["tool_loop", "turn_count", "escalation_reached", "repeated_user_messages"]
    pd.testing.assert_frame_equal(old[cols], out[cols])
    # the same rows through a spans frame (sessions derived), and gate works on them
    again = lo.evaluate(spans, ToolLoop(), cache=False, progress=False)
    assert dict(zip(again["session_id"], again["value"])) == {"S-a": False, "S-b": True}
    assert not lo.gate(res, {"tool_loop": ">= 0.9"}).passed


def test_rerun_with_the_same_run_id_skips_done_sessions(spans, store):
    sessions = lo.to_sessions(spans)
    first = lo.evaluate(sessions, TurnCount(), cache=False, progress=False, store=store, run_id="r1")
    again = lo.evaluate(sessions, TurnCount(), cache=False, progress=False, store=store, run_id="r1")
    assert len(first) == 2 and len(again) == 0


def test_session_judge_reads_the_conversation(spans):
    from llmops_nb.evals import KnowledgeRetention

    j = KnowledgeRetention(extra={"mock_response": '{"reasoning": "asked again", "answer": "fail"}'})
    res = lo.evaluate(lo.to_sessions(spans), j, cache=False, progress=False)
    assert res["passed"].tolist() == [False, False] and res["session_id"].tolist() == ["S-a", "S-b"]
    msg = j.messages(lo.to_sessions(spans).iloc[1].to_dict())[1]["content"]
    assert "Criterion: knowledge retention" in msg
    assert "<turn 2>\nuser: I asked already: where is order ORD-1?" in msg
    assert 'tools: lookup({"id": "ORD-1"})' in msg


def test_session_level_functions_and_errors(spans):
    @lo.evaluator(level="session")
    def long_chat(row, n=2):
        return len(row["spans"]) > n

    res = lo.evaluate(lo.to_sessions(spans), long_chat, spans=spans, cache=False, progress=False)
    assert res.set_index("session_id")["value"].to_dict() == {"S-a": True, "S-b": True}

    @lo.evaluator(level="session")
    def broken(row):
        raise RuntimeError("boom")

    err = lo.evaluate(spans, broken, cache=False, progress=False)
    assert err["error"].str.contains("boom").all() and err["session_id"].notna().all()
    with pytest.raises(ValueError, match="level='session' needs spans"):
        lo.evaluate(lo.to_traces(spans), broken, cache=False, progress=False)


def test_wide_on_sessions_and_traces(spans):
    tr = lo.to_traces(spans)
    res = lo.evaluate(tr, TurnCount(), spans=spans, cache=False, progress=False)
    assert "turn_count" not in lo.wide(tr, res).columns  # session rows do not join onto traces
    w = lo.wide(lo.to_sessions(spans), res, values="passed")
    assert w["turn_count"].tolist() == [True, True]
    both = pd.concat([res, lo.evaluate(tr, "is_json", cache=False, progress=False)], ignore_index=True)
    assert lo.wide(tr, both)["is_json"].notna().all()
