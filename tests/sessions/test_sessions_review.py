"""Reviewing sessions: the chat view with turns that open into traces, and the annotation queue
at the session grain (labels keyed by session id, a turn picker, queue strategies, overlap)."""

from __future__ import annotations

import pytest

import llmops_nb as lo
from llmops_nb.annotation import Question, Schema
from llmops_nb.evals import TurnCount


def conv(session, n, t0=0, channel="web"):
    recs = []
    for j in range(n):
        tid = f"{session}-t{j + 1}"
        recs.append({"trace_id": tid, "span_id": f"{tid}-r", "kind": "agent", "session_id": session,
                     "input_text": f"question {j + 1} of {session}", "output_text": f"answer <{j + 1}>",
                     "start_time": f"2026-01-01T00:{t0 + j:02d}:00Z", "metadata": {"channel": channel}})
        recs.append({"trace_id": tid, "span_id": f"{tid}-tool", "parent_span_id": f"{tid}-r", "kind": "tool",
                     "tool_name": "lookup", "tool_arguments": '{"id": 1}', "status": "error" if j == 1 else "ok",
                     "error_message": "boom" if j == 1 else None, "start_time": f"2026-01-01T00:{t0 + j:02d}:10Z"})
    return recs


@pytest.fixture
def spans():
    recs = conv("A", 3) + conv("B", 2, 10, "sms") + conv("C", 1, 20) + conv("D", 4, 30, "sms")
    return lo.read_traces(recs, format="records")


def test_show_session_is_a_chat_whose_turns_open_into_traces(spans):
    sessions = lo.to_sessions(spans)
    res = lo.evaluate(sessions, TurnCount(max_turns=2), cache=False, progress=False)
    v = lo.show_session(spans, "A", results=res)
    html = v.html
    assert repr(v) == "SessionView(session_id='A', 3 turns)"
    assert html.count('class="lo-turn"') == 3 and "answer &lt;2&gt;" in html
    assert html.count('<details class="lo-turn-trace">') == 3 and "A-t2-tool" in html  # the trace viewer inside
    assert "turn_count" in html and "lo-fail" in html  # the session result on top
    assert "🔧 lookup" in html and "error" in html
    with pytest.raises(KeyError, match="not in spans"):
        lo.show_session(spans, "nope")


def test_show_session_from_a_store(spans, store):
    store.add_spans(spans)
    res = lo.evaluate(lo.to_sessions(spans), TurnCount(max_turns=2), cache=False, progress=False, store=store)
    assert len(res) == 4
    html = lo.show_session(store, "D").html
    assert html.count('class="lo-turn"') == 4 and "turn_count" in html


def schema():
    return Schema([Question("resolved", "pass_fail"), Question("bad_turn", "turn", prompt="which turn went wrong?"),
                   Question("note", "text")])


def test_annotate_sessions_labels_keyed_by_session_with_a_turn_picker(spans, store):
    sessions = lo.to_sessions(spans)
    w = lo.annotate(sessions, schema(), store, "alice", level="session", spans=spans, queue="sequential")
    s = w.session
    assert s.current == "A" and 'data-turn="3"' in s.item_html("A") and "A-t1-tool" in s.item_html("A")
    with pytest.raises(ValueError, match="turn 4 is past this session's 3 turns"):
        s.submit("A", {"resolved": False, "bad_turn": 4})
    s.submit("A", {"resolved": False, "bad_turn": 2, "note": "tool error in turn 2"})
    s.submit("B", {"resolved": True})  # the turn picker is optional
    s.flush()
    lab = lo.labels(store)
    a = lab[lab["item_id"] == "A"].set_index("question")
    assert a.loc["bad_turn", "value"] == 2 and a.loc["resolved", "value"] is False
    assert lab["session_id"].tolist() and set(lab["session_id"]) == {"A", "B"} and lab["trace_id"].isna().all()
    assert Question("t", "turn").option_label(3) == "turn 3" and Question("t", "turn").required is False
    # resumed: a new session for the same annotator continues after B
    again = lo.annotate(sessions, schema(), store, "alice", level="session", spans=spans, queue="sequential")
    assert again.session.current == "C"


@pytest.mark.parametrize("queue,by", [("random", None), ("stratified", "n_turns"), ("sequential", None),
                                      ("uncertainty", "score")])
def test_every_queue_strategy_and_overlap_at_session_grain(spans, store, queue, by):
    sessions = lo.to_sessions(spans).assign(score=[0.1, 0.5, 0.9, 0.45])
    a = lo.annotate(sessions, schema(), store, "ann", level="session", spans=spans, queue=queue, by=by, overlap=2).session
    b = lo.annotate(sessions, schema(), store, "bob", level="session", spans=spans, queue=queue, by=by, overlap=2).session
    seen = set()
    for sess in (a, b) * 4:
        if sess.current is not None:
            seen.add(sess.current)
            sess.submit(sess.current, {"resolved": True})
    assert seen == {"A", "B", "C", "D"}
    for s in (a, b):
        s.flush()
    lab = lo.labels(store)
    assert lab.groupby("item_id")["annotator"].nunique().max() <= 2
    if queue == "uncertainty":
        assert a.order[0] == "B"  # score closest to 0.5 first


def test_disagreement_queue_against_session_results(spans, store):
    sessions = lo.to_sessions(spans)
    res = lo.evaluate(sessions, TurnCount(max_turns=2), cache=False, progress=False)
    judged = lo.wide(sessions, res, values="passed")
    w = lo.annotate(judged, schema(), store, "alice", level="session", spans=spans, queue="sequential")
    for sid in ("A", "B", "C", "D"):
        w.session.submit(sid, {"resolved": True})
    w.session.flush()
    d = lo.annotate(judged, {"resolved": "pass_fail"}, store, "carol", level="session", queue="disagreement",
                    by="turn_count")
    assert set(d.session.order) == {"A", "D"}  # judged fail (over 2 turns), labelled resolved by a human


def test_slices_and_clusters_accept_the_sessions_table(spans):
    import numpy as np
    import pandas as pd

    from llmops_nb.analysis import outcome_from_results
    from llmops_nb.sessions import session_digest

    rng = np.random.default_rng(0)
    big = []
    for i in range(300):
        ch = "sms" if i % 3 == 0 else "web"
        recs = conv(f"S{i}", int(rng.integers(1, 5)), 0, ch)
        for r in recs:
            if ch == "sms" and r["kind"] == "agent" and rng.random() < 0.6:
                r["output_text"] = "Sorry, I can't help with that. Anything else?"
        big += recs
    sp = lo.read_traces(big, format="records")
    sessions = lo.to_sessions(sp)
    # a session-level outcome from results, aligned on session_id
    bad = pd.Series({s: any("can't help" in a for a in outs) for s, outs in
                     zip(sessions["session_id"], sessions["assistant_outputs"])}, name="unhelpful")
    s = lo.find_slices(sessions, outcome=bad)
    assert s.iloc[0]["slice"] == "channel = sms" and s.iloc[0]["examples"][0].startswith("S")
    bands = lo.find_slices(sessions, outcome=bad, columns=["n_turns"])
    assert set(bands["column"]) == {"n_turns"}  # turn count bands
    res = lo.evaluate(sessions, TurnCount(max_turns=2), cache=False, progress=False)
    out = outcome_from_results(res, "turn_count")
    assert out.index.isin(sessions["session_id"]).all() and out.sum() == (sessions["n_turns"] > 2).sum()
    cl = lo.cluster(sessions.assign(digest=session_digest(sessions).to_numpy()), text="digest", n_clusters=2,
                    outcome=bad)
    assert len(cl.frame) == len(sessions) and cl.summary["size"].sum() == len(sessions)
    assert set(cl.frame["session_id"]) == set(sessions["session_id"])
