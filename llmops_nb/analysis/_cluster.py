"""Clusters of traces by their text: embed, reduce, cluster, name, map in 2-D."""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import renamed_argument
from llmops_nb._optional import require
from llmops_nb.analysis._embed import Embedder, embed_texts, get_embedder
from llmops_nb.analysis._frame import (
    Outcome,
    as_analysis_frame,
    id_series,
    resolve_outcome,
    text_series,
)
from llmops_nb.analysis._topics import detect_languages, language_mix, language_neutral
from llmops_nb.results import ResultView
from llmops_nb.schema import is_missing

__all__ = ["cluster", "Clusters", "distinctive_terms", "name_clusters_with_llm"]


@dataclass
class Clusters(ResultView):
    """What :func:`cluster` found.

    ``frame``: one row per input row (the input's columns plus ``cluster``, ``cluster_name``,
    ``x``, ``y``: the 2-D map, crowded bands stretched open, see ``settings["spread"]``); ``summary``: one row per cluster (``cluster``, ``name``, ``terms``,
    ``size``, ``share``, ``failures``, ``failure_rate``, ``examples``); ``embeddings``: the
    vectors (rows aligned with ``frame``).

    Example:
        >>> import llmops_nb as lo, pandas as pd
        >>> df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(6)],
        ...                    "output_text": ["refund denied by policy"] * 3 + ["login failed password"] * 3})
        >>> res = lo.cluster(df, n_clusters=2, cache=False)
        >>> sorted(res.summary["size"].tolist())
        [3, 3]
    """

    frame: pd.DataFrame
    summary: pd.DataFrame
    embeddings: np.ndarray = field(repr=False)
    text: str = "text"
    settings: dict[str, Any] = field(default_factory=dict)
    ids: pd.Series = field(default=None, repr=False)  # type: ignore[assignment]
    texts: pd.Series = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def labels(self) -> np.ndarray:
        """The cluster id of each row (-1 = noise, HDBSCAN only)."""
        return self.frame["cluster"].to_numpy()

    def plot(self, color: str = "cluster", *, max_points: int = 20_000, hover_chars: int = 160) -> Any:
        """A plotly scatter of the 2-D map, coloured by ``"cluster"``, ``"outcome"`` or any
        column of ``frame``, with the id, cluster name and text on hover (at most
        ``max_points`` points, sampled).

        Example:
            >>> import pandas as pd
            >>> df = pd.DataFrame({"output_text": ["refund denied", "refund late", "hello there", "hello you"]})
            >>> cluster(df, text="output_text", n_clusters=2).plot().data[0].type
            'scattergl'
        """
        import plotly.express as px

        df = self.frame.reset_index(drop=True)
        df = df.assign(_id=self.ids.to_numpy(), _text=self.texts.to_numpy())
        if len(df) > max_points:
            df = df.sample(max_points, random_state=0)
        col = "failed" if color == "outcome" else color
        if col not in df.columns:
            raise KeyError(
                f"color={color!r} is not available; use 'cluster', 'outcome' (when cluster() had an "
                f"outcome) or a column of the frame: {list(df.columns)}"
            )
        c = df[col]
        if col == "cluster":
            c = df["cluster"].astype(str) + ": " + df["cluster_name"].astype(str)
        groups = c.astype(str) if col != "failed" else c.map({True: "failed", False: "ok"}).fillna("unknown")
        # legend entries stay short enough to be read in full beside the map
        groups = groups.map(lambda t: t if len(t) <= 38 else t[:37] + "…")
        x, y = df["x"].to_numpy(dtype=float), df["y"].to_numpy(dtype=float)
        spread = self.settings.get("spread") or ""
        hover = df["_id"].astype(str) + "<br>" + df["_text"].astype(str).str.slice(0, hover_chars).str.replace("\n", " ")
        order = sorted(groups.unique(), key=lambda g: (len(g.split(":")[0]), g))
        fig = px.scatter(
            x=x, y=y, color=groups, hover_name=hover, render_mode="webgl",
            category_orders={"color": order},
            labels={"x": "component 1", "y": "component 2", "color": color},
            title=f"Clusters of {self.text} ({self.settings.get('projection', 'pca')} map), coloured by {color}"
                  + (f"<br><sup>{spread}</sup>" if spread else ""),
        )
        n = len(df)
        size = 6 if n < 500 else 5 if n < 5000 else 3
        fig.update_traces(marker={"size": size, "opacity": 0.75 if n < 2000 else 0.45, "line": {"width": 0}})
        # the legend sits under the map, in rows: the map keeps the output's width at any width,
        # and the figure grows with the entries so every one of them is shown (none scrolls)
        n_items = len(order)
        fig.update_layout(
            height=520 + 20 * ((n_items + 1) // 2),
            legend={"itemsizing": "constant", "font": {"size": 11}, "title": {"text": f"{color} "},
                    "orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "x": 0, "xanchor": "left"},
            margin={"l": 50, "r": 10, "t": 70, "b": 40},
        )
        return fig

    def _repr_html_(self) -> str:
        s = self.settings
        head = (
            f"{len(self.summary)} clusters of {len(self.frame):,} rows by {html.escape(str(self.text))} "
            f"(embedder {html.escape(str(s.get('embedder')))}, method {s.get('method')})"
        )
        show = self.summary.copy()
        show["terms"] = show["terms"].map(lambda t: ", ".join(t))
        show["examples"] = show["examples"].map(lambda t: ", ".join(map(str, t)))
        return f"<div><p>{head}</p>{show.to_html(index=False, float_format=lambda v: f'{v:.3g}')}</div>"

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"Clusters({len(self.summary)} clusters of {len(self.frame):,} rows, embedder="
            f"{s.get('embedder')!r}, method={s.get('method')!r})\n"
            + self.summary.drop(columns=["examples"]).to_string(max_rows=30)
        )


def _stretch(v: np.ndarray) -> tuple[np.ndarray, bool]:
    """An axis on which more than a third of the points crowd into a tenth of the range (a dense
    band beside a few far clusters) is stretched: half its position, half its rank, so the band
    opens up while the order of the points and the far clusters stay."""
    ok = v[~np.isnan(v)]
    if len(ok) < 20:
        return v, False
    lo, hi = float(ok.min()), float(ok.max())
    span = hi - lo
    if span == 0:
        return v, False
    srt = np.sort(ok)
    in_window = np.searchsorted(srt, srt + 0.1 * span, side="right") - np.arange(len(srt))
    if in_window.max() <= len(srt) / 3:
        return v, False
    rank = pd.Series(v).rank(pct=True).to_numpy()
    return 0.5 * (v - lo) / span + 0.5 * rank, True


def _spread(x: np.ndarray, y: np.ndarray, *, share: float = 0.05) -> tuple[np.ndarray, np.ndarray, str]:
    """Points of the 2-D map spread so that they can be told apart: crowded axes stretched
    (:func:`_stretch`), then, when more than ``share`` of the points still share a position at
    0.5% of the map's size (identical texts map to one point), every point jittered by up to 1%
    of it (seeded: the same map on every run). Returns x, y and a note of what was done."""
    n = len(x)
    if n < 20:
        return x, y, ""
    x, sx = _stretch(np.asarray(x, dtype=float))
    y, sy = _stretch(np.asarray(y, dtype=float))
    notes = ["axes stretched where points crowd (half position, half rank)"] if sx or sy else []
    span_x = float(np.nanmax(x) - np.nanmin(x)) or 1.0
    span_y = float(np.nanmax(y) - np.nanmin(y)) or 1.0
    cells = np.stack([np.round(x / (0.005 * span_x)), np.round(y / (0.005 * span_y))], axis=1)
    _, counts = np.unique(cells[~np.isnan(cells).any(axis=1)], axis=0, return_counts=True)
    if int(counts[counts > 1].sum()) > share * n:
        rng = np.random.default_rng(0)
        x = x + rng.normal(0, 0.01 * span_x, n)
        y = y + rng.normal(0, 0.01 * span_y, n)
        notes.append("points that coincide jittered apart")
    return x, y, "; ".join(notes)


def distinctive_terms(texts: Sequence[str], labels: np.ndarray, n_terms: int = 5) -> dict[int, list[str]]:
    """Each cluster's most distinctive words by class-based TF-IDF: term frequency within the
    cluster (all its texts as one document) times log(1 + average words per cluster /
    the term's frequency over all clusters).

    Example:
        >>> terms = distinctive_terms(["refund denied", "refund late", "hello there", "hello you"],
        ...                           np.array([0, 0, 1, 1]), n_terms=1)
        >>> terms[0], terms[1]
        (['refund'], ['hello'])
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    uniq = np.unique(labels)
    try:
        cv = CountVectorizer(stop_words="english", ngram_range=(1, 2), min_df=1, max_features=100_000,
                             token_pattern=r"(?u)\b[^\W\d_][\w'-]+\b")
        C = cv.fit_transform(list(texts))
    except ValueError:
        return {int(u): [] for u in uniq}
    vocab = np.asarray(cv.get_feature_names_out())
    codes = np.searchsorted(uniq, labels)
    M = sparse.csr_matrix((np.ones(len(labels)), (codes, np.arange(len(labels)))), shape=(len(uniq), len(labels)))
    T = np.asarray((M @ C).todense(), dtype=np.float64)  # clusters x terms
    tf = T / np.maximum(T.sum(axis=1, keepdims=True), 1)
    avg_words = T.sum() / len(uniq)
    idf = np.log(1 + avg_words / np.maximum(T.sum(axis=0), 1))
    score = tf * idf
    out: dict[int, list[str]] = {}
    for i, u in enumerate(uniq):
        top = np.argsort(-score[i])[: n_terms * 3]
        terms: list[str] = []
        for j in top:
            if score[i, j] <= 0:
                break
            t = vocab[j]
            # skip a unigram already inside a chosen bigram and vice versa
            if any(t in s.split() or s in t.split() for s in terms):
                continue
            terms.append(str(t))
            if len(terms) == n_terms:
                break
        out[int(u)] = terms
    return out


def _choose_k(Z: np.ndarray, k_range: range, seed: int) -> int:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = Z if len(Z) <= 3000 else Z[rng.choice(len(Z), 3000, replace=False)]
    scores: dict[int, float] = {}
    for k in k_range:
        if k >= len(sample):
            break
        lab = KMeans(n_clusters=k, n_init=2, random_state=seed).fit_predict(sample)
        if len(np.unique(lab)) < 2:
            continue
        scores[k] = float(silhouette_score(sample, lab, sample_size=min(2000, len(sample)), random_state=seed))
    if not scores:
        return k_range.start
    # the fewest clusters whose silhouette is within 10% of the best: text silhouettes keep
    # rising slowly as clusters split into near-duplicate templates
    best = max(scores.values())
    return min(k for k, s in scores.items() if s >= best - 0.1 * abs(best))


def _hdbscan(Z: np.ndarray, min_cluster_size: int, max_fit: int, seed: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN
    from sklearn.neighbors import NearestNeighbors

    if len(Z) <= max_fit:
        return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(Z)
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(len(Z), max_fit, replace=False))
    scale = max_fit / len(Z)
    lab_fit = HDBSCAN(min_cluster_size=max(5, int(min_cluster_size * scale)), copy=True).fit_predict(Z[fit_idx])
    # the other rows take the label of their nearest fitted neighbour (noise included)
    nn = NearestNeighbors(n_neighbors=1).fit(Z[fit_idx])
    _, j = nn.kneighbors(Z)
    labels = lab_fit[j[:, 0]]
    labels[fit_idx] = lab_fit
    return labels


def _project(E: np.ndarray, projection: str, seed: int) -> np.ndarray:
    if projection == "pca":
        from sklearn.decomposition import PCA

        if E.shape[1] < 2 or len(E) < 2:
            return np.zeros((len(E), 2))
        return PCA(n_components=2, random_state=seed).fit_transform(E)
    if projection == "umap":
        os.environ.setdefault("NUMBA_CACHE_DIR", str(os.path.join(os.path.expanduser("~"), ".cache", "numba")))
        umap = require("umap", "UMAP 2-D maps")
        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(E)
    raise ValueError(f"projection={projection!r} is not valid; valid: 'pca' (default), 'umap' (pip install \"llmops-nb[umap]\")")


def name_clusters_with_llm(
    summary: pd.DataFrame, texts_by_cluster: dict[int, list[str]], model: str, *,
    boundary_by_cluster: dict[int, list[str]] | None = None, runner: Any = None, **llm_kwargs: Any
) -> pd.DataFrame:
    """Ask an LLM (any litellm model, through the shared runner: ``runner``, cache, budget) for
    a short name and a one-line description of each cluster, from its typical texts
    (``texts_by_cluster``) and its boundary texts (``boundary_by_cluster``), the way
    :func:`topics` names topics: a name that collides with a sibling's is asked again with the
    taken names, then left out. Returns ``summary`` with ``llm_name`` and ``llm_description``
    columns (``llm_name`` empty and the reason in ``llm_description`` when the call failed, the
    reply held no JSON or the name collided).

    Example:
        >>> import pandas as pd
        >>> summary = pd.DataFrame({"cluster": [0], "name": ["refund denied"]})
        >>> name_clusters_with_llm(summary, {0: ["no refunds after 30 days"]}, "openai/gpt-4o-mini",
        ...     mock_response='{"name": "Refunds", "description": "Refund questions."}')["llm_name"].tolist()
        ['Refunds']
    """
    from llmops_nb.analysis._topics import _llm_name

    names: list[str | None] = []
    descs: list[str | None] = []
    taken: list[str] = []
    offline = summary["name"].astype(str).tolist() if "name" in summary.columns else [""] * len(summary)
    for c, off in zip(summary["cluster"], offline):
        errors: list[str] = []
        name, desc, named_by = _llm_name(
            model, [t[:300] for t in texts_by_cluster.get(int(c), [])[:8]],
            [t[:300] for t in (boundary_by_cluster or {}).get(int(c), [])[:4]], taken, off, "", runner, llm_kwargs,
            what="groups of LLM application traces", what_one="what the group's texts have in common (a task or a failure)",
            errors=errors)
        if named_by == "llm":  # a failing call leaves the cluster unnamed by the model, never crashes the analysis
            names.append(name)
            descs.append(desc or None)
        else:
            names.append(None)
            descs.append(errors[0] if errors else "naming failed")
        taken.append(name if named_by == "llm" else off)
    out = summary.copy()
    out["llm_name"] = names
    out["llm_description"] = descs
    return out


@renamed_argument("random_state", "seed", "llmops_nb.cluster")
def cluster(
    frame: pd.DataFrame,
    text: str | Sequence[str] | Callable[[pd.DataFrame], Any] = "output_text",
    *,
    embedder: str | Embedder = "tfidf",
    method: str = "kmeans",
    n_clusters: int | None = None,
    outcome: Outcome | None = None,
    min_cluster_size: int | None = None,
    reduce_to: int = 10,
    projection: str = "pca",
    name_model: str | None = None,
    llm_kwargs: dict[str, Any] | None = None,
    runner: Any = None,
    language: str | None = "auto",
    n_terms: int = 5,
    n_examples: int = 5,
    max_k: int = 12,
    max_fit: int = 20_000,
    id_column: str | None = None,
    grain: str = "auto",
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    engine: Any = None,
) -> Clusters:
    """Group rows by the meaning (or the words) of a text: embed, cluster, name each cluster
    by its distinctive phrases (and optionally by an LLM), and map the rows in 2-D.

    Row grain: ``result.frame`` has one row per input row (a spans frame is analysed per
    trace unless ``grain="row"``); ``result.summary`` one row per cluster.

    - ``embedder``: ``"tfidf"`` (TF-IDF + TruncatedSVD, default, no torch), ``"minilm"``
      (sentence-transformers all-MiniLM-L6-v2 from the ``embeddings`` extra, offline),
      ``"litellm:<model>"`` or an :class:`Embedder`. Model embeddings are cached on disk by
      text hash and embedder (``cache_dir``, default ``.llmops/cache/embeddings``).
    - ``method``: ``"kmeans"`` (``n_clusters``, or the fewest clusters between 2 and
      ``max_k`` whose silhouette is within 10% of the best) or ``"hdbscan"`` (after PCA to ``reduce_to`` dimensions; noise is cluster -1;
      above ``max_fit`` rows it is fitted on a sample and the rest take their nearest
      fitted neighbour's label).
    - ``outcome``: failures per cluster (a column, boolean Series or callable).
    - Names: offline, each cluster's most distinctive multi-word phrases against the other
      clusters (single words only when identifier-like, e.g. ``OrderNotFound``), a name that
      collides with another cluster's made from the phrases that tell it apart (the same
      naming as :func:`topics`); ``summary.description`` is the most typical member's text.
    - ``name_model``: a litellm model that also names each cluster from its typical and
      boundary members, asked again when its name collides with another cluster's
      (``llm_kwargs`` go to ``litellm.acompletion`` through the shared runner, or ``runner``).
    - ``language``: language is not a clustering axis. ``"auto"`` (default) takes a
      ``language`` column of the frame, else detects each text's language (py3langid); the
      words that mark a language other than the main one are left out of the text that is
      embedded and named (:func:`language_neutral`), so items group by what they say, not
      the language they say it in. ``frame.language`` and ``summary.top_language`` /
      ``language_share`` show each cluster's language mix. A column name uses that column;
      ``None`` clusters the texts as they are.
    - ``projection``: the 2-D map, ``"pca"`` or ``"umap"`` (``umap`` extra).
    - ``engine``: ``"local"`` or ``"ray"`` (default: the current engine): on Ray the texts are
      embedded in batches on Ray tasks; clustering runs here on the vectors (the same clusters).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trace_id": list("abcd"),
        ...     "output_text": ["refund denied", "refund late", "hello there", "hello you"]})
        >>> res = cluster(df, text="output_text", n_clusters=2)
        >>> sorted(res.summary["size"].tolist()), res.frame.columns[-4:].tolist()
        ([2, 2], ['cluster', 'cluster_name', 'x', 'y'])
    """
    if method not in ("kmeans", "hdbscan"):
        raise ValueError(f"method={method!r} is not valid; valid: 'kmeans', 'hdbscan'")
    if method == "hdbscan" and n_clusters is not None:
        raise ValueError("n_clusters applies to method='kmeans'; with 'hdbscan' set min_cluster_size instead")
    df = as_analysis_frame(frame, grain)
    if len(df) < 2:
        raise ValueError(f"cluster() needs at least 2 rows; got {len(df)}")
    texts = text_series(df, text)
    ids = id_series(df, id_column)
    langs = _languages(df, texts, language)
    # what is embedded and named: the texts without the words that only mark a language
    neutral = texts.tolist() if langs is None else language_neutral(texts.astype(str).tolist(), langs.tolist())
    emb = get_embedder(embedder)
    E = embed_texts(neutral, emb, cache=cache, cache_dir=cache_dir, engine=engine)
    n = len(df)

    if method == "kmeans":
        from sklearn.cluster import KMeans

        if n_clusters is None:
            k = _choose_k(E, range(2, max(3, min(max_k, n - 1) + 1)), seed)
        else:
            if not 1 <= n_clusters <= n:
                raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of rows ({n})")
            k = n_clusters
        n_init = 10 if n <= 50_000 else 3  # more restarts where they are cheap
        labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(E)
    else:
        from sklearn.decomposition import PCA

        Z = E
        if E.shape[1] > reduce_to and n > reduce_to:
            Z = PCA(n_components=reduce_to, random_state=seed).fit_transform(E)
        mcs = min_cluster_size or max(5, n // 100)
        labels = _hdbscan(Z, mcs, max_fit, seed)
    labels = np.asarray(labels, dtype=np.int64)
    xy = _project(E, projection, seed)

    terms = distinctive_terms(neutral, labels, n_terms=n_terms)
    named = _phrase_names(neutral, E, labels)
    y = None
    if outcome is not None:
        y, _ = resolve_outcome(df, outcome)
    rows = []
    for c in np.unique(labels):
        m = labels == c
        idx = np.flatnonzero(m)
        centre = E[m].mean(axis=0)
        ranked = idx[np.argsort(-(E[m] @ centre), kind="stable")]  # the members nearest the centre first
        if y is not None:
            ym = y[m]
            known = ~np.isnan(ym)
            fails = int((ym[known] > 0.5).sum())
            rate = fails / known.sum() if known.any() else np.nan
            # failing examples first, the ones nearest the centre
            fail_first = [i for i in ranked if y[i] > 0.5] + [i for i in ranked if not y[i] > 0.5]
            ex = [ids.iloc[i] for i in fail_first[:n_examples]]
        else:
            fails, rate = None, None
            ex = [ids.iloc[i] for i in ranked[:n_examples]]
        name, phrases = named.get(int(c), (f"cluster {c}", []))
        top_lang, lshare = language_mix(langs, m)
        rows.append({"cluster": int(c), "name": name, "description": str(texts.iloc[ranked[0]])[:300],
                     "phrases": phrases, "terms": terms.get(int(c), []), "size": int(m.sum()), "share": m.mean(),
                     "failures": fails, "failure_rate": rate, "top_language": top_lang, "language_share": lshare,
                     "examples": ex})
    summary = pd.DataFrame(rows)
    if y is None:
        summary = summary.drop(columns=["failures", "failure_rate"])
        summary = summary.sort_values("size", ascending=False, kind="stable").reset_index(drop=True)
    else:
        summary = summary.sort_values(["failure_rate", "size"], ascending=False, kind="stable").reset_index(drop=True)
    if langs is None:
        summary = summary.drop(columns=["top_language", "language_share"])
    if name_model is not None:
        from llmops_nb.analysis._topics import _typical

        typical, boundary = {}, {}
        for c in summary["cluster"]:
            typ, bnd = _typical(E, labels == c, 8)
            typical[int(c)] = [str(texts.iloc[i]) for i in typ]
            boundary[int(c)] = [str(texts.iloc[i]) for i in bnd[:4]]
        summary = name_clusters_with_llm(summary, typical, name_model, boundary_by_cluster=boundary, runner=runner,
                                         **(llm_kwargs or {}))
    name_of = dict(zip(summary["cluster"], summary.get("llm_name", summary["name"]).fillna(summary["name"])))
    out = df.copy()
    if y is not None:
        out["failed"] = pd.array([None if np.isnan(v) else bool(v > 0.5) for v in y], dtype="boolean")
    if langs is not None and "language" not in out.columns:
        out["language"] = langs.to_numpy()
    out["cluster"] = labels
    out["cluster_name"] = [name_of[c] for c in labels]
    map_x, map_y, spread = _spread(xy[:, 0], xy[:, 1])  # a readable map: crowded bands opened up
    out["x"] = map_x
    out["y"] = map_y
    settings = {"embedder": emb.name, "method": method, "n_clusters": int(len(summary)),
                "projection": projection, "seed": seed, "spread": spread,
                "language": None if langs is None else (language if language != "auto" else
                                                        "language" if "language" in df.columns else "detected"),
                "named_by": "phrases" if name_model is None else f"llm {name_model} (phrases where it failed)"}
    text_name = text if isinstance(text, str) else ("+".join(text) if not callable(text) else "text")
    return Clusters(out, summary, E, text_name, settings, ids.reset_index(drop=True), texts.reset_index(drop=True))


def _languages(df: pd.DataFrame, texts: pd.Series, language: str | None) -> pd.Series | None:
    """Each row's language: the ``language`` column (or the named one), else detected from the text."""
    if language is None:
        return None
    if language != "auto":
        if language not in df.columns:
            raise ValueError(f"language={language!r} is not a column; use 'auto' (a 'language' column, else "
                             f"detected from the text), None (no language handling) or one of {list(df.columns)[:20]}")
        col = df[language]
    elif "language" in df.columns:
        col = df["language"]
    else:
        return pd.Series(detect_languages(texts.astype(str).tolist()), index=texts.index, dtype=object)
    return pd.Series([None if is_missing(v) else str(v).lower() for v in col], index=texts.index, dtype=object)


def _phrase_names(texts: list[str], E: np.ndarray, labels: np.ndarray,
                  mixed_below: float = 0.25) -> dict[int, tuple[str, list[str]]]:
    """(name, phrases) per cluster from the topics' phrase naming: the largest cluster named
    first, each name checked against the names already given; a cluster whose best phrase is
    held by fewer than ``mixed_below`` of its members is named "mixed: ..."; noise (-1) is "noise"."""
    from llmops_nb.analysis._topics import _name_group, _phrases_of, _tokens

    cs = [c for c, _ in Counter(labels.tolist()).most_common() if c != -1]
    out: dict[int, tuple[str, list[str]]] = {-1: ("noise", [])} if (labels == -1).any() else {}
    if not cs:
        return out
    named = _name_group(texts, E, [labels == c for c in cs], [], None, None, {}, 1)
    held = [_phrases_of(t) for t in texts]
    for c, (name, _desc, phrases, _by) in zip(cs, named):
        if not phrases:
            out[int(c)] = (f"cluster {c}", phrases)
            continue
        # a cluster whose best phrase only a few members hold is a mix: its name says so
        first = tuple(w.lower() for w in _tokens(phrases[0]))
        idx = np.flatnonzero(labels == c)
        cover = float(np.mean([first in held[i] for i in idx]))
        out[int(c)] = (name if cover >= mixed_below else f"mixed: {name}", phrases)
    return out
