"""Trajectory metrics on real agent trajectories: tau-bench's 200 gpt-4o airline runs, each with
the task's expected actions and the reward tau-bench gave.

tau-bench's reward is 1 when the database after the run equals the database after replaying
the expected actions (and the required outputs were given). Reads do not change the database,
and a call that failed changed nothing, so the relation to expect is: reward 1 exactly when the
agent's successful *write* calls equal the expected write calls (same names and arguments, any
order). Measured on this file: that set match agrees with the reward on 195 of 200 runs (83 of
84 successes, 112 of 116 failures); counting failed calls too it agrees on 187, and the looser
"every expected call appears" (any order, extra calls allowed) on only 165.
"""

from __future__ import annotations

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import RedundantToolCalls, ToolErrorRate, TrajectoryMatch

WRITE = ["book_reservation", "cancel_reservation", "update_reservation_flights", "update_reservation_baggages",
         "update_reservation_passengers", "send_certificate"]


@pytest.fixture(scope="module")
def tau():
    from fixture_paths import fixture_dir

    path = fixture_dir("tau-bench") / "historical_trajectories" / "gpt-4o-airline.json"
    spans = lo.read_traces(path, format="tau_bench")
    return spans, lo.to_traces(spans)


def test_write_trajectory_match_agrees_with_the_reward(tau):
    spans, traces = tau
    evs = [TrajectoryMatch(expected="expected_actions", tools=WRITE, successful_only=True, name="writes"),
           TrajectoryMatch(expected="expected_actions", tools=WRITE, name="writes_all"),
           TrajectoryMatch(expected="expected_actions", name="all_tools", args="subset"),
           ToolErrorRate(), RedundantToolCalls()]
    res = lo.evaluate(spans, evs, cache=False, progress=False)
    assert res["error"].isna().all()
    w = lo.wide(traces, res)
    reward = traces["metadata"].map(lambda m: float(m["reward"]) >= 1.0)
    match = (w["writes.precision"] == 1.0) & (w["writes.recall"] == 1.0)
    agree = int((match == reward).sum())
    counted = int((((w["writes_all.precision"] == 1.0) & (w["writes_all.recall"] == 1.0)) == reward).sum())
    contained = int((w["writes.any_order"].astype(bool) == reward).sum())
    print(f"\nset match of successful write calls agrees with the reward on {agree}/{len(w)} runs; "
          f"counting failed calls {counted}/{len(w)}; expected calls contained {contained}/{len(w)}")
    print(pd.crosstab(match.rename("write set match"), reward.rename("reward 1")))
    assert len(w) == 200 and agree == 195 and counted == 187 and contained == 165
    assert int((match & reward).sum()) == 83 and int((~match & ~reward).sum()) == 112
    # reads are free to vary: over all tools the exact trajectory rarely matches, even on successes
    print(f"exact match over all tools: {w['all_tools.exact'].astype(bool).mean():.1%} of runs; "
          f"mean recall {w['all_tools.recall'].mean():.2f}; tool error rate "
          f"{w['tool_error_rate'].mean():.1%}; runs with a redundant call {(w['redundant_tool_calls'] > 0).mean():.1%}")
    assert w["all_tools.exact"].astype(bool).mean() < match.mean()
