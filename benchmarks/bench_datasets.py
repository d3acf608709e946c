"""Benchmark of versioned datasets: save a 100k-example version (< 5 s), diff two 100k
versions (< 5 s), load a version as a datasets.Dataset (< 2 s); load as pandas and dedupe of 100k
rows are reported without a target. Baselines in the same run: a plain Parquet write and
read of the same Arrow data, and a pandas merge of the two versions' ids.

Run: .venv/bin/python benchmarks/bench_datasets.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from llmops_nb import datasets as lds  # noqa: E402

N = 100_000
TARGETS = {"save": 5.0, "diff": 5.0, "load_datasets": 2.0}  # the three targets


def make_examples(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = np.array(["billing", "shipping", "account", "returns", "travel"])
    cat = cats[rng.integers(0, len(cats), n)]
    ids = [f"ex_{i:08x}" for i in range(n)]
    inputs = [f"Customer question {i} about {c}: where is my order and when will the refund arrive?" for i, c in zip(range(n), cat)]
    return pd.DataFrame({
        "example_id": ids,
        "input_messages": [[{"role": "system", "content": "You are the support assistant."},
                            {"role": "user", "content": t}] for t in inputs],
        "input_text": inputs,
        "output_text": [f"Your order {i} ships tomorrow; refunds take 5 days." for i in range(n)],
        "expected_output": [f"Order {i}: ships tomorrow." for i in range(n)],
        "labels": [{"pass_fail": bool(i % 3), "category": c} for i, c in zip(range(n), cat)],
        "results": [{"faithfulness": {"label": "pass", "score": 1.0, "passed": True}} for _ in range(n)],
        "failure_modes": [["hallucinated_policy"] if i % 11 == 0 else [] for i in range(n)],
        "tags": [["seed"] for _ in range(n)],
        "metadata": [{"category": c, "tenant": f"t{i % 7}"} for i, c in zip(range(n), cat)],
        "source_trace_id": [f"{i:032x}" for i in range(n)],
        "source_format": "otlp_json",
        "annotators": [["ana"] for _ in range(n)],
    })


def timed(fn, repeat: int = 3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    root = tempfile.mkdtemp(prefix="bench_datasets_")
    a = lds.assign_splits(make_examples(N))
    b = a.iloc[1_000:].copy()  # 1k removed
    changed = b.index[::20]  # 5% changed
    b.loc[changed, "expected_output"] = "a corrected answer"
    b = pd.concat([b, lds.assign_splits(make_examples(2_000, seed=1).assign(example_id=[f"new_{i}" for i in range(2_000)]))],
                  ignore_index=True)  # 2k added

    table, _ = lds._arrow.frame_to_arrow(a)
    t_base_write, _ = timed(lambda: pq.write_table(table, os.path.join(root, "baseline.parquet")))
    t_base_read, _ = timed(lambda: pq.read_table(os.path.join(root, "baseline.parquet")))

    n_saves = [0]

    def save_a():
        n_saves[0] += 1
        return lds.save(a, f"bench{n_saves[0]}", message="100k examples", store=root, author="bench")

    t_save, _ = timed(save_a)
    lds.save(b, "bench1", message="1k removed, 2k added, 5% changed", store=root, author="bench")
    t_diff, d = timed(lambda: lds.diff("bench1", 0, 1, store=root))
    t_base_diff, _ = timed(lambda: a[["example_id"]].merge(b[["example_id"]], on="example_id", how="outer", indicator=True))
    t_load_hf, ds = timed(lambda: lds.load("bench1", 0, store=root))
    t_load_pd, df = timed(lambda: lds.load("bench1", 0, store=root, as_="pandas"))
    assert sum(len(x) for x in ds.values()) == N and len(df) == N
    assert (len(d.added), len(d.removed), len(d.changed)) == (2_000, 1_000, len(changed)), d.summary()

    rng = np.random.default_rng(2)
    vocab = np.array(["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 10))) for _ in range(5000)])
    texts = [" ".join(vocab[rng.integers(0, 5000, rng.integers(8, 40))]) for _ in range(N)]
    texts[-10_000:] = [t + " please" for t in texts[:10_000]]  # 10% near-duplicates
    dd = pd.DataFrame({"example_id": [f"d{i}" for i in range(N)], "input_text": texts})
    t_dedupe, res = timed(lambda: lds.dedupe(dd, text="input_text", threshold=0.9), repeat=1)

    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(root, "bench1")) for f in fs)
    print(f"versioned datasets benchmark: {N:,} examples, {table.nbytes / 1e6:.0f} MB in Arrow, "
          f"{size / 1e6:.0f} MB on disk for two versions; best of 3")
    rows = [
        ("save a version", "save", t_save, t_base_write, "Parquet write"),
        ("diff two versions", "diff", t_diff, t_base_diff, "pandas id merge"),
        ("load as datasets.Dataset", "load_datasets", t_load_hf, t_base_read, "Parquet read"),
        ("load as pandas", "load_pandas", t_load_pd, t_base_read, "Parquet read"),
    ]
    ok = True
    for label, key, t, base, base_label in rows:
        target = TARGETS.get(key)
        if target is None:
            print(f"  {label:<26} {t:6.2f} s  (no target; baseline {base_label} {base:.2f} s, x{t / base:.1f})")
            continue
        verdict = "ok" if t < target else "OVER TARGET"
        ok &= t < target
        print(f"  {label:<26} {t:6.2f} s  (target < {target:.0f} s: {verdict}; baseline {base_label} {base:.2f} s, x{t / base:.1f})")
    print(f"  diff found {len(d.added):,} added, {len(d.removed):,} removed, {len(d.changed):,} changed")
    print(f"  dedupe {len(dd):,} rows (no target)   {t_dedupe:6.2f} s  ({len(res.dropped):,} near-duplicates dropped)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
