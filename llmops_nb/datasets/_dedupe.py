"""Near-duplicate removal: MinHash LSH blocking over character n-grams, verified by TF-IDF cosine."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.results import ResultView
from llmops_nb.schema import none_if_missing

__all__ = ["dedupe", "DedupeResult", "text_of"]

_WS = re.compile(r"\s+")
_BINS = 128  # MinHash signature length (one-permutation hashing with densification)
_ROWS = 8  # signature values per LSH band -> 16 bands: P(candidate) is 0.95 at Jaccard 0.8, 0.06 at 0.5
_FEATURES = 1 << 22
_MAX_GROUP = 32  # band buckets larger than this compare each member with neighbours only


def text_of(v: Any) -> str:
    """Readable text of a cell: a string, or the contents of a list of chat messages.

    Example:
        >>> text_of([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
        'user: hi\\nassistant: yo'
    """
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        parts = []
        for m in v:
            if isinstance(m, dict):
                parts.append(f"{m.get('role') or ''}: {m.get('content') or ''}")
            else:
                parts.append(text_of(m))
        return "\n".join(parts)
    v = none_if_missing(v)
    return "" if v is None else str(v)


@dataclass
class DedupeResult(ResultView):
    """What :func:`dedupe` kept and dropped. Unpacks as ``kept, dropped = dedupe(...)``.

    ``kept``: the frame without near-duplicates (one row per example). ``dropped``: one row per
    dropped row: the row it duplicates (``kept_index``/``kept_id``), their ``similarity`` and the
    ``threshold`` used, and both texts.

    Example:
        >>> df = pd.DataFrame({"example_id": ["a", "b", "c"],
        ...                    "input_text": ["reset my password please", "reset my password please", "refund"]})
        >>> kept, dropped = dedupe(df)
        >>> kept["example_id"].tolist(), len(dropped)
        (['a', 'c'], 1)
    """

    kept: pd.DataFrame
    dropped: pd.DataFrame
    threshold: float
    text: str

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.kept

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.kept
        yield self.dropped

    def __repr__(self) -> str:
        return (
            f"DedupeResult(kept {len(self.kept):,} rows, dropped {len(self.dropped):,} near-duplicates "
            f"of {self.text!r}, threshold: cosine similarity >= {self.threshold})"
        )

    def _repr_html_(self) -> str:
        head = self.dropped.head(20)[["similarity", "dropped_text", "kept_text"]] if len(self.dropped) else None
        table = head.to_html(index=False) if head is not None else "<p>no near-duplicates</p>"
        return (
            f"<div><b>dedupe</b>: kept {len(self.kept):,} rows, dropped {len(self.dropped):,} "
            f"near-duplicates of <code>{html.escape(self.text)}</code> at threshold "
            f"<b>{self.threshold}</b> (cosine similarity of character n-grams){table}</div>"
        )


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash of each integer."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _signatures(doc_of: np.ndarray, feat: np.ndarray, n: int) -> np.ndarray:
    """One-permutation MinHash with rotation densification: (n_rows, _BINS) uint64.

    Each n-gram is hashed once; its top 7 bits pick a bin and the next 32 bits are its value; a
    bin keeps its minimum. Empty bins borrow the value of the next non-empty bin to the right
    (cyclically) plus an offset per step, so two rows agree in a bin with probability equal to
    their Jaccard similarity (Shrivastava, 2017).
    """
    h = _mix64(feat.astype(np.uint64) ^ np.uint64(0x5851F42D4C957F2D))
    cell = doc_of * _BINS + (h >> np.uint64(57)).astype(np.int64)
    empty = np.uint64(np.iinfo(np.uint64).max)
    flat = np.full(n * _BINS, empty, dtype=np.uint64)
    np.minimum.at(flat, cell, (h >> np.uint64(25)) & np.uint64(0xFFFFFFFF))
    sig: np.ndarray = flat.reshape(n, _BINS)
    missing = sig == empty
    rows_missing = np.flatnonzero(missing.any(axis=1) & ~missing.all(axis=1))
    if len(rows_missing):
        k = _BINS
        sub_missing = missing[rows_missing]
        cols = np.arange(2 * k)
        pos = np.where(np.concatenate([~sub_missing, ~sub_missing], axis=1), cols, 4 * k)
        nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1][:, :k]  # next filled at or after j
        r, c = np.nonzero(sub_missing)
        src = nxt[r, c]
        rr = rows_missing[r]
        with np.errstate(over="ignore"):
            sig[rr, c] = sig[rr, src % k] + (np.uint64(1) << np.uint64(32)) * (src - c).astype(np.uint64)
    return sig


def _grams(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed byte ``n``-grams of the UTF-8 texts: (row of each gram, feature id < 2**22).

    Fully vectorised: the texts are joined into one byte buffer and every window of ``n`` bytes
    is packed into an integer; windows that cross two texts are dropped. A text shorter than
    ``n`` bytes counts as one gram of all its bytes.
    """
    if not 1 <= n <= 7:
        raise ValueError(f"ngram must be between 1 and 7 bytes, got {n}")
    enc = [t.encode("utf-8") for t in texts]
    lens = np.fromiter((len(b) for b in enc), dtype=np.int64, count=len(enc))
    buf = np.frombuffer(b"".join(enc) + b"\0" * n, dtype=np.uint8)
    total = int(lens.sum())
    ends = np.cumsum(lens)
    doc_of = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    gram = np.zeros(total, dtype=np.uint64)
    for k in range(n):
        gram |= buf[k:k + total].astype(np.uint64) << np.uint64(8 * k)
    ok = np.arange(total, dtype=np.int64) + n <= ends[doc_of]
    starts = ends - lens
    short = np.flatnonzero((lens > 0) & (lens < n))
    if len(short):
        ok[starts[short]] = True  # the whole short text, bytes beyond it masked off
        mask = (np.uint64(1) << (np.uint64(8) * lens[short].astype(np.uint64))) - np.uint64(1)
        gram[starts[short]] = (gram[starts[short]] & mask) | (np.uint64(1) << np.uint64(63))
    doc_of, gram = doc_of[ok], gram[ok]
    feat = (_mix64(gram) & np.uint64(_FEATURES - 1)).astype(np.int64)
    return doc_of, feat


def _count_matrix(doc_of: np.ndarray, feat: np.ndarray, n_rows: int) -> Any:
    """CSR matrix of n-gram counts (rows x 2**22)."""
    from scipy import sparse

    m = sparse.csr_matrix(
        (np.ones(len(feat), dtype=np.float32), (doc_of, feat)), shape=(n_rows, _FEATURES)
    )
    m.sum_duplicates()
    return m


def _candidates(sig: np.ndarray, valid: np.ndarray, min_jaccard: float = 0.5) -> np.ndarray:
    """Candidate pairs (i < j) that share an LSH band bucket and whose MinHash-estimated
    Jaccard similarity is at least ``min_jaccard``.

    Within a bucket every pair is compared when it has up to ``_MAX_GROUP`` members; larger
    buckets compare each member with its ``_MAX_GROUP`` neighbours in row order.
    """
    n = sig.shape[0]
    primes = _mix64(np.arange(1, _ROWS + 1, dtype=np.uint64)) | np.uint64(1)
    idx_all = np.flatnonzero(valid)
    codes: list[np.ndarray] = []
    for b in range(_BINS // _ROWS):
        block = sig[idx_all, b * _ROWS:(b + 1) * _ROWS]
        with np.errstate(over="ignore"):
            key = (block * primes).sum(axis=1, dtype=np.uint64)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        members = idx_all[order]
        for w in range(1, _MAX_GROUP):
            if w >= len(ks):
                break
            same = ks[w:] == ks[:-w]
            if not same.any():
                break
            i = members[:-w][same]
            j = members[w:][same]
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            codes.append(np.unique(lo.astype(np.int64) * n + hi))
    if not codes:
        return np.empty((0, 2), dtype=np.int64)
    code = np.unique(np.concatenate(codes))
    pairs = np.stack([code // n, code % n], axis=1)
    keep = np.empty(len(pairs), dtype=bool)
    step = 100_000
    for lo in range(0, len(pairs), step):
        pa_, pb_ = pairs[lo:lo + step, 0], pairs[lo:lo + step, 1]
        keep[lo:lo + step] = (sig[pa_] == sig[pb_]).mean(axis=1) >= min_jaccard
    return pairs[keep]


def dedupe(
    frame: pd.DataFrame,
    text: str | Sequence[str] = "input_text",
    threshold: float = 0.9,
    *,
    ngram: int = 4,
    idf: bool = False,
    key: str | None = "example_id",
) -> DedupeResult:
    """Drop near-duplicate rows; keep the first row of each group (order the frame first).

    Similarity is the cosine of the count vectors of ``ngram``-byte n-grams of the UTF-8 text
    (lower-cased, whitespace collapsed; 4 bytes are 4 Latin characters), so 0.95 means about 95%
    of the n-gram mass is shared; ``idf=True`` weights n-grams by rarity (TF-IDF) instead, which
    makes rare differences count more. Exact duplicates have similarity 1.0.

    Candidate pairs come from MinHash LSH blocking (128 one-permutation hashes in 16 bands of 8:
    a pair with n-gram Jaccard 0.8 is a candidate with probability 0.95; two texts at cosine 0.9
    have a Jaccard of about 0.8 or more), so 100k rows take seconds, not the hours of all pairs;
    every candidate is then verified exactly against ``threshold``.
    ``text`` is a column (strings or chat messages) or a list of columns joined with newlines.

    Returns a :class:`DedupeResult`: ``kept, dropped = dedupe(frame)``; ``dropped`` lists each
    dropped row with the row it duplicates, their similarity and the threshold.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"example_id": ["a", "b", "c"], "input_text": [
        ...     "How do I reset the password of my billing account?",
        ...     "how do I reset the password of my billing  account ?", "Refund policy?"]})
        >>> kept, dropped = dedupe(df, threshold=0.9)
        >>> kept["example_id"].tolist(), dropped[["kept_id", "dropped_id"]].values.tolist()
        (['a', 'c'], [['a', 'b']])
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    cols = [text] if isinstance(text, str) else list(text)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise KeyError(f"dedupe(text=...): {missing} not in the frame; columns are {list(frame.columns)}")
    raw = ["\n".join(text_of(v) for v in vals) for vals in zip(*[frame[c].tolist() for c in cols])]
    norm = [_WS.sub(" ", t).strip().lower() for t in raw]
    n = len(norm)
    pos = np.arange(n)

    # 1. exact duplicates of the normalised text
    codes, uniq = pd.factorize(pd.Series(norm, dtype=object), sort=False)
    first_of = np.full(len(uniq), -1, dtype=np.int64)
    rep_pos = []
    dropped_pairs: list[tuple[int, int, float]] = []
    for i, c in enumerate(codes):
        if first_of[c] < 0:
            first_of[c] = i
            rep_pos.append(i)
        else:
            dropped_pairs.append((int(first_of[c]), i, 1.0))
    rep = np.array(rep_pos, dtype=np.int64)

    # 2. near duplicates among the distinct texts
    if len(rep) > 1:
        texts = [norm[i] for i in rep]
        doc_of, feat = _grams(texts, ngram)
        valid = np.bincount(doc_of, minlength=len(texts)) > 0
        sig = _signatures(doc_of, feat, len(texts))
        cand = _candidates(sig, valid)
        X: Any = None
        if len(cand):
            # count vectors only for the rows that are in a candidate pair
            need = np.zeros(len(texts), dtype=bool)
            need[cand.ravel()] = True
            keep = need[doc_of]
            X = _count_matrix(doc_of[keep], feat[keep], len(texts))
            if idf:
                uniq = np.unique(doc_of * _FEATURES + feat)  # (row, gram) pairs -> document frequency
                df_counts = np.bincount(uniq % _FEATURES, minlength=_FEATURES)
                w = np.log((1 + len(texts)) / (1 + df_counts[X.indices])) + 1.0
                X.data = (X.data * w).astype(np.float32)
            norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            X = X.multiply(1.0 / norms[:, None]).tocsr()
        if len(cand):
            sims = np.empty(len(cand), dtype=np.float64)
            step = 200_000
            for s in range(0, len(cand), step):
                a, b = cand[s:s + step, 0], cand[s:s + step, 1]
                sims[s:s + step] = np.asarray(X[a].multiply(X[b]).sum(axis=1)).ravel()
            hit = sims >= threshold - 1e-9
            ci, cj, cs = cand[hit, 0], cand[hit, 1], sims[hit]
            order = np.lexsort((-cs, cj))
            dropped = np.zeros(len(rep), dtype=bool)
            for k in order:
                i, j = int(ci[k]), int(cj[k])
                if not dropped[j] and not dropped[i]:
                    dropped[j] = True
                    dropped_pairs.append((int(rep[i]), int(rep[j]), float(min(cs[k], 1.0))))
    drop_pos = {j for _, j, _ in dropped_pairs}
    keep_mask = np.array([p not in drop_pos for p in pos], dtype=bool)
    kept = frame.loc[keep_mask].copy()
    dropped_pairs.sort(key=lambda t: t[1])
    idx = frame.index
    has_key = key is not None and key in frame.columns
    keys = frame[key].tolist() if has_key else []
    dropped_df = pd.DataFrame(
        {
            "dropped_index": [idx[j] for _, j, _ in dropped_pairs],
            "kept_index": [idx[i] for i, _, _ in dropped_pairs],
            "dropped_id": [keys[j] for _, j, _ in dropped_pairs] if has_key else None,
            "kept_id": [keys[i] for i, _, _ in dropped_pairs] if has_key else None,
            "similarity": pd.Series([round(s, 4) for _, _, s in dropped_pairs], dtype="float64"),
            "threshold": pd.Series([threshold] * len(dropped_pairs), dtype="float64"),
            "dropped_text": [raw[j] for _, j, _ in dropped_pairs],
            "kept_text": [raw[i] for i, _, _ in dropped_pairs],
        }
    )
    if not has_key:
        dropped_df = dropped_df.drop(columns=["dropped_id", "kept_id"])
    return DedupeResult(kept, dropped_df, threshold, ", ".join(cols))
