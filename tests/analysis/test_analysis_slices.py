"""find_slices on synthetic frames with known causes, and its statistics against scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import llmops_nb as lo
from llmops_nb.analysis import plot_slices, slice_masks
from llmops_nb.stats import benjamini_hochberg, fisher_vs_rest, log_fisher_vs_rest
from llmops_nb.stats import wilson as wilson_interval


def synth(n: int = 4000, seed: int = 0, *, interaction: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cat = rng.choice(["billing", "shipping", "returns", "account"], n)
    lang = rng.choice(["en", "de", "fr"], n, p=[0.6, 0.2, 0.2])
    ver = rng.choice(["v1", "v2", "v3"], n)
    model = rng.choice(["gpt-4o", "claude", "llama"], n)
    inp = rng.integers(20, 400, n)
    long = rng.random(n) < 0.1
    inp = np.where(long, rng.integers(3000, 8000, n), inp)
    p = np.full(n, 0.04)
    if interaction:
        p = np.where((ver == "v3") & (lang == "de"), 0.5, p)
    else:
        p = np.where(cat == "billing", 0.25, p)
        p = np.where(long, 0.35, p)
    failed = rng.random(n) < p
    return pd.DataFrame({
        "trace_id": [f"t{i:05d}" for i in range(n)],
        "metadata": [{"category": c, "language": la, "prompt_version": v} for c, la, v in zip(cat, lang, ver)],
        "models": [[m] for m in model],
        "input_text": ["x" * int(k) for k in inp],
        "output_text": ["ok"] * n,
        "latency_ms": rng.lognormal(7, 0.5, n),
        "failed": failed,
    })


def test_planted_causes_rank_first_and_are_significant():
    df = synth()
    before = df.copy()
    s = lo.find_slices(df, outcome="failed")
    top2 = set(s["slice"].head(2))
    assert "category = billing" in top2
    assert any(x.startswith("input_length in [") for x in top2), s.head(5)
    assert s.loc[s["slice"] == "category = billing", "significant"].item()
    # unrelated columns are not significant on their own
    model_rows = s[(s["order"] == 1) & (s["column"] == "model")]
    assert not model_rows["significant"].any(), model_rows
    pd.testing.assert_frame_equal(df, before)  # input not mutated


def test_slice_statistics_are_consistent():
    df = synth(seed=1)
    s = lo.find_slices(df, outcome="failed")
    n, k = len(df), int(df["failed"].sum())
    assert s.attrs["n"] == n and s.attrs["n_failures"] == k
    assert s.attrs["baseline"] == pytest.approx(k / n)
    assert (s["failure_rate"] == s["failures"] / s["size"]).all()
    assert ((s["ci_low"] <= s["failure_rate"]) & (s["failure_rate"] <= s["ci_high"])).all()
    assert np.allclose(s["lift"], s["failure_rate"] / s.attrs["baseline"])
    assert (s["p_adjusted"] >= s["p_value"] - 1e-15).all()
    assert (s["significant"] == (s["p_adjusted"] < 0.05)).all()
    # sorted by evidence
    assert (np.diff(np.log(np.maximum(s["p_value"].to_numpy(), 1e-300))) >= -1e-9).all()
    # rebuilding the billing slice's rows gives the same counts
    masks = slice_masks(df, s)
    for i in range(5):
        m = masks[:, i]
        assert m.sum() == s["size"].iloc[i]
        assert df["failed"][m].sum() == s["failures"].iloc[i]
    # examples are failing traces of the slice
    row = s[s["slice"] == "category = billing"].iloc[0]
    ex = df.set_index("trace_id").loc[row["examples"]]
    assert ex["failed"].all() and all(m["category"] == "billing" for m in ex["metadata"])


def test_min_size_threshold_is_applied_and_shown():
    df = synth(n=3000)
    s = lo.find_slices(df, outcome="failed", min_size=400)
    assert (s["size"] >= 400).all()
    assert s.attrs["min_size"] == 400 and s.attrs["n_small"] > 0
    assert "min_size=400" in repr(s) and "min_size=400" in s._repr_html_()
    default = lo.find_slices(df, outcome="failed")
    assert default.attrs["min_size"] == max(20, int(np.ceil(0.005 * 3000)))


def test_pairs_reported_only_when_they_add_over_parents():
    s = lo.find_slices(synth(interaction=True, n=6000), outcome="failed")
    first = s.iloc[0]
    assert first["order"] == 2
    assert {first["column"], first["column_2"]} == {"prompt_version", "language"}
    assert {first["value"], first["value_2"]} == {"v3", "de"}
    # with a single-column cause, pairs built on it add nothing and are left out
    single = lo.find_slices(synth(seed=3), outcome="failed", columns=["category", "language", "model"])
    pairs = single[single["order"] == 2]
    assert not pairs["significant"].any(), pairs[["slice", "p_adjusted"]]
    assert single.attrs["n_pairs_dropped"] > 0


def test_outcome_forms_and_spans_input():
    df = synth(n=2000, seed=4)
    a = lo.find_slices(df, outcome="failed")
    b = lo.find_slices(df, outcome=df["failed"])
    c = lo.find_slices(df, outcome=lambda f: f["failed"].to_numpy())
    d = lo.find_slices(df, outcome=pd.Series(df["failed"].to_numpy(), index=df["trace_id"]))
    for other in (b, c, d):
        assert other["slice"].tolist() == a["slice"].tolist()
    # null outcomes are left out
    y = df["failed"].astype(object)
    y.iloc[:500] = None
    e = lo.find_slices(df, outcome=y)
    assert e.attrs["n"] == 1500 and e.attrs["n_null_outcome"] == 500
    with pytest.raises(KeyError, match="metadata key"):
        lo.find_slices(df, outcome="failed", columns=["no_such_key"])
    with pytest.raises(KeyError, match="not a column"):
        lo.find_slices(df, outcome="nope")


def test_spans_frame_is_analysed_per_trace():
    recs = []
    rng = np.random.default_rng(5)
    for i in range(600):
        tenant = "t-bad" if i % 3 == 0 else "t-ok"
        failed = rng.random() < (0.5 if tenant == "t-bad" else 0.05)
        tid = f"tr{i}"
        recs.append({"trace_id": tid, "span_id": "r", "kind": "chain", "name": "root",
                     "metadata": {"tenant": tenant}, "input_text": "hello", "output_text": "hi"})
        recs.append({"trace_id": tid, "span_id": "l", "parent_span_id": "r", "kind": "llm",
                     "model": "m1" if i % 2 else "m2"})
        recs.append({"trace_id": tid, "span_id": "t", "parent_span_id": "r", "kind": "tool",
                     "tool_name": "search", "status": "error" if failed else "ok"})
    spans = lo.read_traces(recs, format="records")
    truth = spans.groupby("trace_id")["status"].apply(lambda s: (s == "error").any())
    s = lo.find_slices(spans, outcome=truth)
    assert s.attrs["n"] == 600
    assert s.iloc[0]["slice"] == "tenant = t-bad"
    assert "model" in s.attrs["columns"]
    full = lo.find_slices(spans, outcome=truth, columns="all")
    assert {"tool", "latency_ms"} <= set(full.attrs["columns"]) or "tool" in full.attrs["skipped"]


def test_numeric_buckets_and_list_columns():
    df = synth(n=3000, seed=6)
    df["models"] = [["a", "b"] if i % 4 == 0 else ["a"] for i in range(len(df))]
    s = lo.find_slices(df, outcome="failed", columns=["input_length", "model", "latency_ms"], max_order=1)
    levels = s[s["column"] == "input_length"]["value"].tolist()
    assert len(levels) == 5 and all(v.startswith("[") for v in levels)  # quartiles + top 10%
    b = s[(s["column"] == "model") & (s["value"] == "b")]
    assert b["size"].item() == 750  # multi-valued: 1 row in 4 also used model b
    assert "a" not in s[s["column"] == "model"]["value"].tolist()  # every row has a: no contrast


def test_stats_match_scipy():
    k, n, K, N = 30, 100, 40, 1000
    lo_, hi_ = stats.fisher_exact([[k, n - k], [K - k, N - n - (K - k)]], alternative="less")[1], \
        stats.fisher_exact([[k, n - k], [K - k, N - n - (K - k)]], alternative="greater")[1]
    ours = fisher_vs_rest(np.array([k]), np.array([n]), K, N)[0]
    assert ours == pytest.approx(min(1.0, 2 * min(lo_, hi_)), rel=1e-9)
    assert np.exp(log_fisher_vs_rest(np.array([k]), np.array([n]), K, N)[0]) == pytest.approx(ours, rel=1e-6)
    p = np.random.default_rng(0).random(200) ** 3
    assert np.allclose(benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))
    lo_w, hi_w = wilson_interval(np.array([10]), np.array([50]))
    z = stats.norm.ppf(0.975)
    ph = 0.2
    centre = (ph + z * z / 100) / (1 + z * z / 50)
    half = z * np.sqrt(ph * 0.8 / 50 + z * z / 10000) / (1 + z * z / 50)
    assert lo_w[0] == pytest.approx(centre - half) and hi_w[0] == pytest.approx(centre + half)


def test_plot_slices_shows_intervals():
    s = lo.find_slices(synth(n=2000), outcome="failed")
    fig = plot_slices(s, top=10)
    assert sum(len(tr.x) for tr in fig.data) == 10 and all(tr.error_x.array is not None for tr in fig.data)
    # the interval bars have one colour per trace (an array there logs "Invalid color specifier")
    assert all(isinstance(tr.error_x.color, str) and tr.error_x.color == tr.marker.color for tr in fig.data)
    assert list(fig.layout.yaxis.categoryarray) == list(s["slice"].head(10))[::-1]  # strongest on top
    assert "baseline" in str(fig.layout.annotations[0].text)


def test_20_columns_at_scale_runs():
    """Scale check at 30k rows (100k and its timing are in benchmarks/bench_analysis.py)."""
    rng = np.random.default_rng(0)
    n = 30_000
    meta = pd.DataFrame({f"c{j}": rng.choice([f"v{i}" for i in range(3 + j % 5)], n) for j in range(18)})
    df = pd.DataFrame({"trace_id": np.arange(n).astype(str), "metadata": meta.to_dict("records"),
                       "latency_ms": rng.lognormal(7, 1, n), "cost_usd": rng.random(n)})
    df["failed"] = rng.random(n) < np.where(meta["c3"] == "v1", 0.2, 0.05)
    s = lo.find_slices(df, outcome="failed", columns=[*meta.columns, "latency_ms", "cost_usd"])
    assert len(s.attrs["columns"]) == 20
    assert s.iloc[0]["slice"] == "c3 = v1"


def test_slices_with_the_same_rows_are_one_row_listing_both_definitions():
    rng = np.random.default_rng(3)
    n = 3000
    channel = rng.choice(["email", "chat", "phone"], n)
    service = np.where(channel == "email", "support-email-bot", "support-assistant")  # email <=> the email bot
    lang = rng.choice(["en", "de"], n)
    failed = rng.random(n) < np.where(channel == "email", 0.3, 0.05)
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(n)], "failed": failed,
                       "metadata": [{"channel": c, "service": s, "language": g} for c, s, g in zip(channel, service, lang)]})
    s = lo.find_slices(df, outcome="failed")
    top = s.iloc[0]
    defs = {top["slice"], *top["same_as"]}
    assert {"channel = email", "service = support-email-bot"} <= defs
    # no other row has the very same rows: neither definition appears twice, pairs merged likewise
    assert not s["slice"].isin(["channel = email", "service = support-email-bot"]).iloc[1:].any()
    pairs = s[s["slice"].str.contains("language = en") & s["slice"].str.contains("email")]
    assert len(pairs) <= 1
    assert s.attrs["n_merged"] >= 1 and "merged" in repr(s)
    # reads well: rates as percentages with their interval, evidence rounded, examples as a count that expands
    text = repr(s)
    assert "failure rate [95% CI]" in text and "%" in text and "['t" not in text
    page = s._repr_html_()
    assert "<details><summary>5 of" in page and "same rows: " in page and "e-0" not in page
    assert "-0.0" not in text and "-0.0" not in page


def test_metadata_keys_holding_objects_are_skipped_not_an_error():
    """A store mixing sources: some traces carry a metadata key with a list of objects ('tools'),
    and 'tools' is also a column: the default columns skip the key and say why."""
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(400)], "tools": [["lookup"]] * 400,
                       "metadata": [{"tools": [{"name": "x"}], "cat": "ab"[i % 2]} for i in range(400)],
                       "failed": np.arange(400) % 3 == 0})
    s = lo.find_slices(df, outcome="failed")
    assert "metadata.tools" in s.attrs["skipped"] and set(s["slice"]) == {"cat = a", "cat = b"}
