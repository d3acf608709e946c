"""Validity on data with a known truth: the simulated app's planted failure modes.

Definitions used here (also printed with -s):

- *Its slice* for a planted cause (``PLANTED[mode]``: column == value): a reported slice whose
  definition contains the term ``column = value``, alone or paired with a second term (the
  cause refined by one more condition, for example the language a mode applies to).
  The check: the first such slice ranks in the top 3 of ``find_slices`` for that mode
  (outcome = the truth column of the mode, default slice columns).
- *A planted cause behind a significant slice*: the generator's plan gives each trace its
  planted failure probability ``p = eligible * (rate_in if in cause slice else background)``
  (``DemoData.plan`` holds eligibility and cause-slice membership, ``DEFAULT_RATES`` the
  rates). A slice S has a planted cause behind it when the mean planted probability inside S
  differs from the mean outside S by at least 10%, in the direction the slice was reported
  (ratio >= 1.1 for "higher", <= 1/1.1 for "lower"). This covers the cause slice, slices that
  contain it or overlap it materially, the conditions a mode needs (a wrong-language answer
  needs a non-English question), and their mirrors (language = en has fewer failures). A
  significant slice without such a difference is a false discovery; their share over all
  significant slices of all modes must be at most 5%.
- *Clusters agree with the planted modes*: failing traces with exactly one planted mode,
  text = ``trace_digest`` (the trace's failure evidence: span errors, output-guardrail
  verdicts, language mismatch, weak retrieval, input-guardrail flags, and the answer when
  there is no failure evidence), TF-IDF embedder, KMeans with as many clusters as planted
  modes present; adjusted Rand index against the planted mode >= 0.6. The index with the
  automatically chosen number of clusters is printed too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import llmops_nb as lo
from llmops_nb.analysis import slice_masks, trace_digest, trace_features

N_TRACES = 8000
SEED = 0


@pytest.fixture(scope="module")
def demo():
    demo_mod = pytest.importorskip("llmops_nb.demo")
    data = demo_mod.generate(N_TRACES, seed=SEED)
    traces = trace_features(data.spans).merge(data.truth, on="trace_id", validate="1:1")
    plan = data.plan.set_index("trace_id").loc[traces["trace_id"]].reset_index()
    return demo_mod, data, traces, plan


def planted_probability(demo_mod, plan: pd.DataFrame, mode: str) -> np.ndarray:
    r_in, r_bg = demo_mod.resolve_rates(None)[mode]
    eligible = plan[f"eligible_{mode}"].to_numpy(dtype=bool)
    in_slice = plan[f"in_slice_{mode}"].to_numpy(dtype=bool)
    return eligible * np.where(in_slice, r_in, r_bg)


def test_planted_causes_rank_top3_and_few_false_discoveries(demo):
    demo_mod, _, traces, plan = demo
    modes = list(demo_mod.FAILURE_MODES)
    truth_cols = [*modes, "failed"]
    n_sig = n_false = 0
    ranks = {}
    for mode in modes:
        s = lo.find_slices(traces, outcome=mode, exclude=truth_cols)
        col, val = demo_mod.PLANTED[mode]["column"], demo_mod.PLANTED[mode]["value"]
        has_term = (s["column"].eq(col) & s["value"].eq(val)) | (s["column_2"].eq(col) & s["value_2"].eq(val))
        hits = np.flatnonzero(has_term.to_numpy())
        ranks[mode] = int(hits[0]) + 1 if hits.size else None
        sig = s[s["significant"]]
        p = planted_probability(demo_mod, plan, mode)
        masks = slice_masks(traces, sig)
        ratio = np.array([p[m].mean() / max(p[~m].mean(), 1e-12) for m in masks.T])
        behind = np.where(sig["direction"].eq("higher"), ratio >= 1.1, ratio <= 1 / 1.1)
        n_sig += len(sig)
        n_false += int((~behind).sum())
        print(f"\n[{mode}] cause {col} = {val}: rank {ranks[mode]}; {len(sig)} significant, "
              f"{int((~behind).sum())} without a planted cause")
        print(s[["slice", "size", "failures", "failure_rate", "lift", "p_adjusted"]].head(5).to_string())
        if (~behind).any():
            print("  without a planted cause:", sig.loc[~behind, "slice"].tolist())
    share = n_false / max(n_sig, 1)
    print(f"\nranks {ranks}; significant slices {n_sig}, without a planted cause {n_false} ({share:.1%})")
    assert all(r is not None and r <= 3 for r in ranks.values()), ranks
    assert n_sig > 0 and share <= 0.05


def test_failure_clusters_agree_with_planted_modes(demo):
    demo_mod, data, traces, _ = demo
    modes = list(demo_mod.FAILURE_MODES)
    digest = trace_digest(data.spans)
    failing = traces[traces["failed"].astype(bool)].copy()
    one = failing[modes].astype(bool).sum(axis=1) == 1
    f = failing[one].copy()
    f["planted"] = np.array(modes)[f[modes].astype(bool).to_numpy().argmax(axis=1)]
    f["digest"] = f["trace_id"].map(digest)
    k = f["planted"].nunique()
    res = lo.cluster(f, text="digest", embedder="tfidf", n_clusters=k, outcome="failed")
    ari = adjusted_rand_score(f["planted"], res.labels)
    auto = lo.cluster(f, text="digest", embedder="tfidf")
    ari_auto = adjusted_rand_score(f["planted"], auto.labels)
    # the texts as they are (language words kept): what cluster() did before language handling
    as_is = lo.cluster(f, text="digest", embedder="tfidf", n_clusters=k, language=None)
    ari_as_is = adjusted_rand_score(f["planted"], as_is.labels)
    auto_as_is = lo.cluster(f, text="digest", embedder="tfidf", language=None)
    print(f"\n{len(f)} failing traces with one planted mode ({int((~one).sum())} with several left out)")
    print(f"ARI (TF-IDF, k={k}) = {ari:.3f} (texts as they are: {ari_as_is:.3f}); ARI with the chosen "
          f"k={len(auto.summary)}: {ari_auto:.3f} (as they are, k={len(auto_as_is.summary)}: "
          f"{adjusted_rand_score(f['planted'], auto_as_is.labels):.3f})")
    print(pd.crosstab(f["planted"].to_numpy(), res.frame["cluster_name"].to_numpy()).to_string())
    print(auto.summary[["name", "size", "top_language", "language_share"]].to_string())
    # the raw answer text alone, for comparison (multilingual answers split by language)
    raw = lo.cluster(f, text="output_text", n_clusters=k)
    print(f"ARI with the answer text alone: {adjusted_rand_score(f['planted'], raw.labels):.3f}")
    assert ari >= 0.6 and ari >= ari_as_is - 0.02
    for cl in (res, auto, raw):
        s = cl.summary
        # names are phrases, not " / "-joined bags of single words
        assert not s["name"].str.contains(" / ").any(), s["name"].tolist()
        assert all(" " in n or any(ch.isupper() or ch == "_" for ch in n) for n in s["name"]), s["name"].tolist()
        # no cluster is defined by language: none is (nearly) all one language other than the main one
        main = cl.frame["language"].value_counts().index[0]
        for r in s.itertuples():
            if r.size >= 10 and r.language_share >= 0.9:
                assert r.top_language == main, (r.name, r.top_language, r.language_share)


def test_next_steps_name_the_planted_causes(demo):
    demo_mod, data, traces, _ = demo
    steps = lo.suggest_next_steps(traces, outcome="failed", modes=data.truth)
    print("\n" + steps.to_markdown())
    for mode in demo_mod.FAILURE_MODES:
        row = steps[steps["mode"] == mode].iloc[0]
        col, val = demo_mod.PLANTED[mode]["column"], demo_mod.PLANTED[mode]["value"]
        assert any(f"{col} = {val}" in s for s in row["top_slices"]), (mode, row["top_slices"])
    tool_args = steps[steps["mode"] == "wrong_tool_args"].iloc[0]
    assert any("previous version support-v2.0" in a for a in tool_args["actions"]), tool_args["actions"]
    halluc = steps[steps["mode"] == "hallucinated_policy"].iloc[0]
    assert any("add or fix the documents about billing" in a for a in halluc["actions"]), halluc["actions"]
    lang = steps[steps["mode"] == "wrong_language"].iloc[0]
    assert any("route these requests away from mistral-small-latest" in a for a in lang["actions"])
    assert any("language" in a for a in lang["actions"])


def test_tau_bench_slices_and_clusters_run():
    from fixture_paths import fixture_dir

    path = fixture_dir("tau-bench") / "historical_trajectories" / "gpt-4o-airline.json"
    spans = lo.read_traces(path, format="tau_bench")
    traces = trace_features(spans)
    meta = traces["metadata"]
    traces["failed"] = [not bool(m.get("success")) for m in meta]
    traces["expected_action"] = [
        (m.get("expected_actions") or [{}])[0].get("name", "(none)") if m.get("expected_actions") else "(none)"
        for m in meta
    ]
    s = lo.find_slices(traces, outcome="failed", columns=["expected_action", "tool", "n_tool_calls",
                                                          "input_length", "n_tool_errors"], min_size=10)
    print(f"\ntau-bench airline: {len(traces)} trajectories, failure rate {traces['failed'].mean():.1%}")
    print(s[["slice", "size", "failures", "failure_rate", "ci_low", "ci_high", "lift", "p_adjusted",
             "significant"]].head(12).to_string())
    assert s.attrs["n"] == 200 and len(s) > 5
    res = lo.cluster(traces, text="output_text", outcome="failed", n_clusters=6)
    print(res.summary[["cluster", "name", "size", "failure_rate"]].to_string())
    assert res.summary["size"].sum() == 200
    assert res.plot().data
