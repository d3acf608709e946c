"""Validity of the session grain on the simulated app, with a held-out seed (no other test or
notebook uses it, and nothing was tuned on it).

- *Its slice* for a planted session cause (``SESSION_PLANTED[mode]``: column == value, read
  from the first turn's metadata or the models used): a slice of ``find_slices`` on the
  sessions table (outcome = the mode's session truth, default context columns) whose
  definition contains ``column = value``; it must rank in the top 3 for every mode.
- *Judge rates*: the four conversation judges through litellm against ``llmops-sim/judge``
  (fpr 0.05, fnr 0.10) on every session with a planted session failure and 400 others;
  TPR (share of true failures judged fail) must be within 4 standard errors of 1 - fnr, and
  TNR within 4 standard errors of 1 - fpr (standard error sqrt(p (1 - p) / n)).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import llmops_nb as lo

SEED = 2718  # held out
N_TRACES = 6000
FPR, FNR = 0.05, 0.10
JUDGE_OF = {"knowledge_retention": "forgets_order_id", "user_frustration": "rising_frustration",
            "conversation_relevance": "user_repeats", "conversation_goal_completion": "failed"}


@pytest.fixture(scope="module")
def demo():
    from llmops_nb.demo import generate, plant_session_failures

    data = plant_session_failures(generate(N_TRACES, seed=SEED), seed=SEED)
    sessions = lo.to_sessions(data.spans).merge(data.session_truth, on="session_id", validate="1:1")
    return data, sessions


@pytest.mark.slow
def test_session_causes_rank_top3(demo):
    from llmops_nb.demo import SESSION_MODES, SESSION_PLANTED

    _, sessions = demo
    ranks = {}
    for mode in SESSION_MODES:
        s = lo.find_slices(sessions, outcome=mode, exclude=[*SESSION_MODES, "failed"])
        col, val = SESSION_PLANTED[mode]["column"], SESSION_PLANTED[mode]["value"]
        has = (s["column"].eq(col) & s["value"].eq(val)) | (s["column_2"].eq(col) & s["value_2"].eq(val))
        hits = np.flatnonzero(has.to_numpy())
        ranks[mode] = int(hits[0]) + 1 if hits.size else None
        print(f"\n[{mode}] {int(sessions[mode].sum())} failing sessions of {len(sessions)}; cause {col} = {val}: "
              f"rank {ranks[mode]}")
        print(s[["slice", "size", "failures", "failure_rate", "lift", "p_adjusted"]].head(3).to_string())
    assert all(r is not None and r <= 3 for r in ranks.values()), ranks


@pytest.mark.slow
def test_simulated_session_judges_hit_the_configured_rates(demo):
    from llmops_nb.demo import (
        SESSION_MODES,
        SIM_JUDGE_MODEL,
        register_sim_judge,
        unregister_sim_judge,
    )
    from llmops_nb.evals import (
        ConversationGoalCompletion,
        ConversationRelevance,
        KnowledgeRetention,
        UserFrustration,
    )

    data, sessions = demo
    rng = np.random.default_rng(SEED)
    bad = sessions[sessions[list(SESSION_MODES)].any(axis=1)]
    good = sessions.drop(bad.index)
    sample = pd.concat([bad, good.iloc[rng.choice(len(good), size=min(400, len(good)), replace=False)]])
    register_sim_judge(data, fpr=FPR, fnr=FNR, seed=SEED)
    try:
        m = SIM_JUDGE_MODEL
        res = lo.evaluate(sample, [ConversationGoalCompletion(model=m), KnowledgeRetention(model=m),
                                   UserFrustration(model=m), ConversationRelevance(model=m)], cache=False,
                          progress=False)
    finally:
        unregister_sim_judge()
    assert res["error"].isna().all(), res["error"].dropna().head(3).tolist()
    assert res["simulated"].all()
    w = lo.wide(sample, res, values="passed")
    for judge, col in JUDGE_OF.items():
        truth = w[col].astype(bool).to_numpy()
        says_fail = ~w[judge].astype(bool).to_numpy()
        for name, mask, expect in (("TPR", truth, 1 - FNR), ("TNR", ~truth, 1 - FPR)):
            n = int(mask.sum())
            rate = float(says_fail[mask].mean()) if name == "TPR" else float((~says_fail[mask]).mean())
            se = math.sqrt(expect * (1 - expect) / n)
            z = (rate - expect) / se
            print(f"{judge:<30} {name} {rate:.3f} (n={n}, configured {expect:.2f}, z={z:+.2f})")
            assert abs(z) <= 4, (judge, name, rate, n)
