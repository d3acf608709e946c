"""The planted session failures are what they claim: the rule checks see the loops and repeats
exactly where they were planted, the forgotten order id is asked for again on turn 3, the truth
has one row per session, and planting is deterministic."""

from __future__ import annotations

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import RepeatedUserMessages, ToolLoop


@pytest.fixture(scope="module")
def planted():
    from llmops_nb.demo import generate, plant_session_failures

    base = generate(900, seed=4)
    return base, plant_session_failures(base, seed=4, rates={"tool_loop": 0.9, "user_repeats": 0.9,
                                                             "forgets_order_id": (0.9, 0.5)})


def test_truth_and_spans_line_up(planted):
    from llmops_nb.demo import SESSION_MODES

    base, data = planted
    sessions = lo.to_sessions(data.spans)
    truth = data.session_truth
    assert list(truth.columns) == ["session_id", *SESSION_MODES, "failed"]
    assert set(truth["session_id"]) == set(sessions["session_id"]) and truth["session_id"].is_unique
    assert sorted(data.spans["trace_id"].unique()) == sorted(base.spans["trace_id"].unique())  # same traces
    assert truth[list(SESSION_MODES)].sum().min() > 0
    w = sessions.merge(truth, on="session_id")
    res = lo.evaluate(w, [ToolLoop(), RepeatedUserMessages()], cache=False, progress=False)
    t = truth.set_index("session_id")
    found = res[res["evaluator"] == "tool_loop"].set_index("session_id")["value"].astype(bool)
    assert (found == t.loc[found.index, "tool_loop"]).all()  # loops exactly where planted
    rep = res[res["evaluator"] == "repeated_user_messages"].set_index("session_id")["value"].astype(bool)
    assert rep[t.loc[rep.index, "user_repeats"]].all()  # every planted repeat is seen


def test_forgotten_order_id_is_asked_again_on_turn_three(planted):
    _, data = planted
    sessions = lo.to_sessions(data.spans).merge(data.session_truth, on="session_id")
    forg = sessions[sessions["forgets_order_id"]]
    assert len(forg)
    for ins, outs in zip(forg["user_inputs"], forg["assistant_outputs"]):
        assert "ORD-" in ins[0] and "ORD-" not in ins[2] and "ORD-" not in outs[2]
    plan = data.session_plan.set_index("session_id")
    kept = sessions[plan.loc[sessions["session_id"], "eligible_forgets_order_id"].to_numpy() & ~sessions["forgets_order_id"]]
    assert all("ORD-" in outs[2] for outs in kept["assistant_outputs"])  # remembered: the id is used


def test_planting_is_deterministic(planted):
    from llmops_nb.demo import plant_session_failures

    base, data = planted
    again = plant_session_failures(base, seed=4, rates={"tool_loop": 0.9, "user_repeats": 0.9,
                                                        "forgets_order_id": (0.9, 0.5)})
    pd.testing.assert_frame_equal(again.session_truth, data.session_truth)
    with pytest.raises(ValueError, match="unknown session failure mode"):
        plant_session_failures(base, rates={"nope": 0.5})


def test_session_truth_travels_with_the_store(planted, tmp_path):
    from llmops_nb.demo import (
        SIM_JUDGE_MODEL,
        load_session_truth,
        register_sim_judge,
        unregister_sim_judge,
        write_store,
    )
    from llmops_nb.evals import KnowledgeRetention

    _, data = planted
    store = lo.Store(tmp_path / "s")
    write_store(data, store)
    pd.testing.assert_frame_equal(load_session_truth(store), data.session_truth)
    judge = register_sim_judge(store, fpr=0.0, fnr=0.0)  # the session truth is read from the store
    try:
        sessions = lo.to_sessions(store.spans()).merge(data.session_truth, on="session_id")
        bad = sessions[sessions["forgets_order_id"]].head(3)
        res = lo.evaluate(bad, KnowledgeRetention(model=SIM_JUDGE_MODEL), cache=False, progress=False)
        assert judge.session_truth is not None and res["passed"].eq(False).all()
    finally:
        unregister_sim_judge()
