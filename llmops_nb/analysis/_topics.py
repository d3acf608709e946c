"""Topics: a two-level taxonomy of what items are about (their task) or what went wrong in them
(their failure), from a text per item (facets, evidence digests or any column): embed, cluster,
cluster each topic again, and name every topic so it reads as a failure or a task and differs
from its siblings."""

from __future__ import annotations

import html
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.analysis._embed import Embedder, embed_texts, get_embedder
from llmops_nb.analysis._llm import ask_json

__all__ = ["topics", "Topics", "distinctive_phrases"]

_NONE = {"", "none", "n/a", "na", "nothing", "no failure", "nothing went wrong", "null", "-"}
_STOP = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "by", "from", "as", "is",
    "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "there", "their",
    "them", "they", "he", "she", "his", "her", "him", "we", "our", "you", "your", "i", "me", "my", "not", "no", "so",
    "than", "then", "too", "very", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "do",
    "does", "did", "done", "has", "have", "had", "having", "which", "who", "whom", "what", "when", "where", "why",
    "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "only", "own", "same",
    "just", "also", "into", "over", "under", "again", "further", "once", "here", "about", "above", "below",
    "between", "through", "during", "before", "after", "if", "because", "until", "while", "although", "though",
    "whatever", "whichever", "whether", "nor", "every", "per", "via",
})
_SPLIT = re.compile(r"[.,;:!?()\[\]{}\"“”\n]+|\s[-–—]\s")
_WORD = re.compile(r"\w(?:[\w'’\-]*\w)?", re.UNICODE)
# a phrase right after one of these says the opposite of what it reads alone ("no real answer")
_NEGATION = frozenset({"no", "not", "never", "without", "nor", "cannot"})


def _tokens(segment: str) -> list[str]:
    return _WORD.findall(segment)


def _phrases_of(text: str, max_n: int = 4) -> set[tuple[str, ...]]:
    """Lower-cased n-grams (1..max_n words) inside punctuation-free segments; none starts or
    ends with a stop word (a negation may start one: "no real answer"), none follows a negation
    it would drop ("answer was given" in "no real answer was given")."""
    out: set[tuple[str, ...]] = set()
    for seg in _SPLIT.split(text):
        toks = [t.lower() for t in _tokens(seg)]
        for n in range(1, max_n + 1):
            for i in range(len(toks) - n + 1):
                g = tuple(toks[i: i + n])
                if (g[0] in _STOP and not (g[0] in _NEGATION and n > 2)) or g[-1] in _STOP or g[0].isdigit() \
                        or g[-1].isdigit():
                    continue
                if any(t in _NEGATION for t in toks[max(0, i - 2): i]):
                    continue
                out.add(g)
    return out


def _proper_nouns(texts: Sequence[str]) -> set[tuple[str, ...]]:
    """Words written capitalised inside sentences (names: English, Stripe), lower-cased."""
    caps: Counter[str] = Counter()
    lows: Counter[str] = Counter()
    for t in texts:
        for seg in re.split(r"[.!?:,]\s+|\n", t):  # a word opening a sentence, line or clause is no name
            for w in _tokens(seg)[1:]:
                (caps if w[:1].isupper() else lows)[w.lower()] += 1
    # the pronoun I is capitalised in every sentence, not a name
    return {(w,) for w, k in caps.items() if k > 2 * lows.get(w, 0) and w != "i" and not re.match(r"i['’]", w)}


def _identifier_like(word: str) -> bool:
    return bool(re.search(r"[a-z][A-Z]|_|\d", word)) or len(word) >= 12


def distinctive_phrases(texts: Sequence[str], labels: Sequence[Any], n_phrases: int = 5) -> dict[Any, list[str]]:
    """Each group's most distinctive phrases (2-4 words, or one identifier-like word such as
    ``OrderNotFound`` or a name written capitalised such as ``English``): the share of the group's texts holding the phrase, times how much more
    often it occurs there than in the other groups, longer phrases preferred at equal evidence.
    Phrases keep the spelling most used in the texts.

    Example:
        >>> texts = ["lookup fails with OrderNotFound", "lookup_order fails with OrderNotFound",
        ...          "answer in English to a Spanish question", "answer in English to a German question"]
        >>> ph = distinctive_phrases(texts, [0, 0, 1, 1], n_phrases=1)
        >>> ph[0], ph[1]
        (['fails with OrderNotFound'], ['answer in English'])
    """
    labels = list(labels)
    groups = list(dict.fromkeys(labels))
    per_text = [_phrases_of(t) for t in texts]
    proper = _proper_nouns(texts)
    surface: dict[tuple[str, ...], Counter[str]] = {}
    following: dict[tuple[str, ...], Counter[str]] = {}  # the word after each phrase ("" at a segment's end)
    preceding: dict[tuple[str, ...], Counter[str]] = {}
    for t in texts:
        for seg in _SPLIT.split(t):
            toks = _tokens(seg)
            low = [x.lower() for x in toks]
            for n in range(1, 5):
                for i in range(len(toks) - n + 1):
                    g = tuple(low[i: i + n])
                    surface.setdefault(g, Counter())[" ".join(toks[i: i + n])] += 1
                    following.setdefault(g, Counter())[low[i + n] if i + n < len(low) else ""] += 1
                    preceding.setdefault(g, Counter())[low[i - 1] if i else ""] += 1
    df_all: Counter[tuple[str, ...]] = Counter()
    df_in: dict[Any, Counter[tuple[str, ...]]] = {g: Counter() for g in groups}
    size: Counter[Any] = Counter(labels)
    for lab, held in zip(labels, per_text):
        df_all.update(held)
        df_in[lab].update(held)
    n_all = len(texts)
    out: dict[Any, list[str]] = {}
    for g in groups:
        n_in = size[g]
        n_out = max(n_all - n_in, 1)
        scored: list[tuple[float, tuple[str, ...]]] = []
        dangling: list[tuple[float, tuple[str, ...]]] = []
        for ph, k in df_in[g].items():
            if k < max(2, 0.05 * n_in) and n_in >= 4:
                continue
            if len(ph) == 1:
                word = surface[ph].most_common(1)[0][0]
                if not (_identifier_like(word) or ph in proper):
                    continue
            dangles = _cut_short(following.get(ph)) or _cut_short(preceding.get(ph)) or \
                (len(ph) <= 2 and _before_object(following.get(ph)))
            p_in = k / n_in
            p_out = (df_all[ph] - k) / n_out
            lift = math.log((p_in + 0.01) / (p_out + 0.01))
            if lift <= 0:
                continue
            (dangling if dangles else scored).append((p_in * lift * (1 + 0.25 * (len(ph) - 1)), ph))
        scored.sort(key=lambda x: (-x[0], x[1]))
        if not scored:  # every phrase sits inside a longer fixed wording: the best of them, not none
            scored = sorted(dangling, key=lambda x: (-x[0], x[1]))
        chosen: list[tuple[str, ...]] = []
        for _, ph in scored:
            s = " ".join(ph)
            if any(s in " ".join(c) or " ".join(c) in s for c in chosen):
                continue
            chosen.append(ph)
            if len(chosen) == n_phrases:
                break
        out[g] = [surface[ph].most_common(1)[0][0] if ph in surface else " ".join(ph) for ph in chosen]
    return out


def _cut_short(beside: Counter[str] | None, share: float = 0.8) -> bool:
    """Whether a phrase stops short of a word (not a stop word) that nearly always follows or
    precedes it ("none of the retrieved" before "articles", "out a discount code" after
    "handed"): read alone it dangles."""
    if not beside:
        return False
    n = sum(beside.values())
    word, k = beside.most_common(1)[0]
    return n >= 2 and word != "" and word not in _STOP and not word.isdigit() and k / n >= share


_DETERMINERS = frozenset({"a", "an", "the", "only", "its", "their", "his", "her", "this", "that", "these", "those",
                          "some", "any", "no", "every"})


def _before_object(after: Counter[str] | None, share: float = 0.8) -> bool:
    """Whether a short phrase is nearly always followed by a determiner ("customer got" before
    "a generic apology"): a verb without its object, which reads as a fragment."""
    if not after:
        return False
    n = sum(after.values())
    return n >= 2 and sum(k for w, k in after.items() if w in _DETERMINERS) / n >= share


def _words(name: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(name) if w.lower() not in _STOP}


def collides(name: str, others: Sequence[str]) -> bool:
    """Whether ``name`` fails to tell itself apart from ``others``: equal, one inside the other
    (as word sets), or sharing most of their words (Jaccard >= 0.6)."""
    a = _words(name)
    if not a:
        return True
    for o in others:
        b = _words(o)
        if not b:
            continue
        if a <= b or b <= a or len(a & b) / len(a | b) >= 0.6:
            return True
    return False


@dataclass
class Topics:
    """What :func:`topics` found.

    ``frame``: one row per item kept (its id, ``text``, ``topic``, ``topic_name``,
    ``subtopic``, ``subtopic_name`` and the input's other columns such as ``language``);
    ``summary``: one row per topic and sub-topic (``level`` 1 or 2, ``topic`` id like ``"2"``
    or ``"2.1"``, ``parent``, ``name``, ``description``, ``phrases``, ``size``, ``share``,
    ``examples``, ``named_by``, ``top_language``, ``language_share``); ``left_out``: the ids of
    the items whose text was empty or "none" (no failure to group).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(8)],
        ...     "failure": ["order lookup fails with OrderNotFound"] * 4 + ["answers in English to a Spanish question"] * 4})
        >>> t = topics(df, levels=1, n_topics=2)
        >>> sorted(t.names())
        ['answers in English: Spanish question', 'order lookup fails: OrderNotFound']
    """

    frame: pd.DataFrame
    summary: pd.DataFrame
    text: str = "failure"
    settings: dict[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = field(default=None, repr=False)
    left_out: list[Any] = field(default_factory=list, repr=False)

    def names(self, level: int = 1) -> list[str]:
        """The topic names at ``level`` (1: top topics, 2: sub-topics)."""
        return self.summary.loc[self.summary["level"] == level, "name"].tolist()

    def to_taxonomy(self, level: int = 1, name: str = "default") -> Any:
        """The topics at ``level`` as a :class:`Taxonomy` (same as ``propose_taxonomy(self)``):
        readable names, descriptions, examples, phrases as keywords and member counts."""
        from llmops_nb.analysis._coding import _taxonomy_from_topics

        return _taxonomy_from_topics(self, level=level, name=name)

    def __repr__(self) -> str:
        lines = [f"Topics({len(self.names(1))} topics, {len(self.names(2))} sub-topics of {len(self.frame):,} "
                 f"items by {self.text!r})"]
        for r in self.summary.itertuples():
            pad = "  " if r.level == 1 else "      "
            lines.append(f"{pad}{r.topic:>4}  {r.name}  ({r.size:,}, {r.share:.0%})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for r in self.summary.itertuples():
            style = "font-weight:600" if r.level == 1 else "padding-left:2em;color:#444"
            rows.append(
                f"<tr><td style='{style}'>{html.escape(str(r.topic))} {html.escape(str(r.name))}</td>"
                f"<td>{html.escape(str(r.description or ''))}</td><td style='text-align:right'>{r.size:,}</td>"
                f"<td style='text-align:right'>{r.share:.0%}</td></tr>"
            )
        head = (f"<p>{len(self.names(1))} topics, {len(self.names(2))} sub-topics of {len(self.frame):,} items "
                f"by <code>{html.escape(self.text)}</code> (embedder {html.escape(str(self.settings.get('embedder')))}, "
                f"names by {html.escape(str(self.settings.get('named_by')))})</p>")
        return (f"<div>{head}<table><thead><tr><th>topic</th><th>description</th><th>items</th><th>share</th></tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table></div>")


def _input_frame(frame: pd.DataFrame, text: str) -> tuple[pd.DataFrame, str]:
    """(one row per item, its id column) from facet result rows, spans, traces, sessions or any frame."""
    from llmops_nb.schema import grain_of

    if "evaluator" in frame.columns and "value" in frame.columns and \
            frame["evaluator"].astype(str).str.startswith("facets.").any():
        from llmops_nb.analysis._facets import facet_table

        frame = facet_table(frame)
    grain = grain_of(frame)
    if text not in frame.columns and grain in ("spans", "traces") and text in ("failure", "task"):
        from llmops_nb.analysis._frame import trace_digest, traces_of

        if grain != "spans":
            raise ValueError(
                f"text={text!r}: this traces table has no {text!r} column. Run lo.facets(spans_or_traces) first "
                f"and pass its rows, or pass the spans table (then the failure evidence of each trace is used)"
            )
        traces = traces_of(frame)
        if text == "failure":
            # offline, no facets: the failure evidence of each trace (errors, guardrail flags, a
            # question/answer language mismatch), which is English whatever the user's language
            dig = trace_digest(frame, include_output=False, traces=traces)
            traces = traces.assign(failure=traces["trace_id"].map(dig))
        else:
            traces = traces.assign(task=traces["input_text"])
        frame = traces
    if text not in frame.columns:
        raise ValueError(f"text={text!r} is not a column; columns: {list(frame.columns)[:20]}. Use 'failure' or "
                         "'task' with facet rows from lo.facets, or the name of a text column.")
    for c in ("trace_id", "session_id", "example_id", "id"):
        if c in frame.columns:
            return frame, c
    frame = frame.reset_index(drop=True).rename_axis("row").reset_index()
    return frame, "row"


def topics(
    frame: pd.DataFrame,
    text: str = "failure",
    *,
    levels: int = 2,
    n_topics: int | None = None,
    max_topics: int = 10,
    max_subtopics: int = 5,
    min_subtopic_size: int = 8,
    embedder: str | Embedder = "tfidf",
    name_model: str | None = None,
    runner: Any = None,
    llm_kwargs: dict[str, Any] | None = None,
    n_examples: int = 5,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    engine: Any = None,
) -> Topics:
    """Group items by a text (``"failure"`` or ``"task"`` facets, or any column) into topics
    with sub-topics, each named so it reads as a failure or a task and differs from its siblings.

    ``frame``: facet result rows from :func:`facets` (or their :func:`facet_table`), a spans
    table (``"failure"`` then uses each trace's failure evidence, offline), or any frame with the
    ``text`` column. Items whose text is empty or "none" are left out. Texts are embedded
    (``embedder``: ``"tfidf"`` offline by default, ``"minilm"``, ``"litellm:<model>"`` or an
    :class:`Embedder`) and clustered with k-means (``n_topics``, or the fewest between 2 and
    ``max_topics`` whose silhouette is within 10% of the best); with ``levels=2`` each topic of
    at least ``2 * min_subtopic_size`` items is split again (2 to ``max_subtopics``) where its
    parts separate (silhouette >= 0.15).

    Names: offline, from each topic's most distinctive multi-word phrases against its siblings
    (single words only when identifier-like, e.g. ``OrderNotFound``), the description its most
    typical member. With ``name_model`` a litellm model (through the shared runner: ``runner``,
    cache, budget) writes a name and a one-sentence description from the topic's most typical
    and its boundary members; a name that collides with a sibling's is asked again with the taken
    names, then falls back to the phrase name. ``summary.top_language`` / ``language_share`` show
    whether a topic is one language (a facet ``language`` column is carried, not clustered).
    ``engine="ray"`` embeds the texts in batches on Ray tasks (default: the current engine).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trace_id": list("abcdef"), "failure": ["tool fails with OrderNotFound"] * 3
        ...                    + ["refund policy invented by the answer"] * 3})
        >>> t = topics(df, levels=1, n_topics=2)
        >>> t.summary[["topic", "size"]].values.tolist()
        [['1', 3], ['2', 3]]
    """
    if levels not in (1, 2):
        raise ValueError(f"levels={levels!r}; valid: 1 (topics) or 2 (topics with sub-topics)")
    df, id_col = _input_frame(frame, text)
    t = df[text]
    keep = t.notna() & ~t.astype(str).str.strip().str.lower().isin(_NONE)
    left_out = df.loc[~keep, id_col].tolist()
    df = df[keep].reset_index(drop=True)
    texts = df[text].astype(str).tolist()
    if len(texts) < 2:
        raise ValueError(f"topics() needs at least 2 items with a {text!r} text (not empty or 'none'); got {len(texts)}")
    emb = get_embedder(embedder)
    # the same text is embedded once (facet answers repeat); clusters weigh each by its count
    uniq, inverse, counts = np.unique(np.asarray(texts, dtype=object), return_inverse=True, return_counts=True)
    U = embed_texts([str(u) for u in uniq], emb, cache=cache, cache_dir=cache_dir, engine=engine)
    E = U[inverse]
    if len(uniq) < 2:
        raise ValueError(f"topics() needs at least 2 different {text!r} texts; every item says {uniq[0]!r}")
    from llmops_nb.analysis._cluster import _choose_k

    if n_topics is not None:
        k = min(n_topics, len(uniq))
        top = _kmeans(U, k, seed, counts)[inverse]
        pre = np.zeros(len(texts), dtype=np.int64)
    else:
        # over-cluster, then merge the clusters that share their defining phrase: paraphrases of
        # one failure land in one topic (and become its sub-topics), other failures stay apart
        k0 = _choose_k(U, range(2, max(3, min(max_topics, len(uniq) - 1) + 1)), seed)
        k0 = min(2 * k0, 2 * max_topics, len(uniq))
        pre = _kmeans(U, k0, seed, counts)[inverse]
        top = _merge_by_phrases([str(u) for u in uniq], inverse, pre)
        k = len(np.unique(top))
    # topics numbered by size, largest first
    order = [c for c, _ in Counter(top.tolist()).most_common()]
    rank = {c: i + 1 for i, c in enumerate(order)}
    top = np.array([rank[c] for c in top])
    sub = np.zeros(len(texts), dtype=np.int64)
    if levels == 2:
        for c in range(1, k + 1):
            idx = np.flatnonzero(top == c)
            if len(idx) < 2 * min_subtopic_size:
                continue
            merged = pre[idx]
            lab: np.ndarray | None
            if len(np.unique(merged)) > 1 and np.bincount(np.unique(merged, return_inverse=True)[1]).min() >= min_subtopic_size:
                lab = merged  # the merged clusters are the sub-topics
            else:
                lab = _split(E[idx], inverse[idx], max_subtopics, min_subtopic_size, seed)
            if lab is not None:
                sub_order = [s for s, _ in Counter(lab.tolist()).most_common()]
                sr = {s: i + 1 for i, s in enumerate(sub_order)}
                sub[idx] = [sr[s] for s in lab]
    rows: list[dict[str, Any]] = []
    lang = df["language"].astype(str).str.lower() if "language" in df.columns else None
    named_by = "phrases"
    # level 1 against each other, level 2 against their siblings inside the parent
    groups: list[tuple[str, str | None, np.ndarray]] = [(str(c), None, top == c) for c in range(1, k + 1)]
    names1 = _name_group(texts, E, [g[2] for g in groups], [], name_model, runner, llm_kwargs or {}, n_examples)
    for (tid, _, m), nm in zip(groups, names1):
        rows.append(_row(1, tid, None, m, nm, df, id_col, lang, E, n_examples))
        named_by = nm[3]
    for c in range(1, k + 1):
        subs = sorted(set(sub[top == c].tolist()) - {0})
        if len(subs) < 2:
            continue
        masks = [(top == c) & (sub == s) for s in subs]
        parent = rows[c - 1]["name"]
        names2 = _name_group(texts, E, masks, [parent], name_model, runner, llm_kwargs or {}, n_examples,
                             context=top == c)
        for s, m, nm in zip(subs, masks, names2):
            rows.append(_row(2, f"{c}.{s}", str(c), m, nm, df, id_col, lang, E, n_examples))
    summary = pd.DataFrame(rows)
    summary["_o"] = [tuple(int(x) for x in str(v).split(".")) for v in summary["topic"]]
    summary = summary.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    name_of = dict(zip(summary["topic"], summary["name"]))
    out = df.rename(columns={text: "text"}) if text != "text" else df.copy()
    out["topic"] = [str(c) for c in top]
    out["topic_name"] = [name_of[str(c)] for c in top]
    out["subtopic"] = [f"{c}.{s}" if s else None for c, s in zip(top, sub)]
    out["subtopic_name"] = [name_of.get(f"{c}.{s}") if s else None for c, s in zip(top, sub)]
    settings = {"embedder": emb.name, "levels": levels, "n_topics": k, "named_by": named_by, "seed": seed,
                "id_column": id_col}
    return Topics(out, summary, text, settings, E, left_out)


def _defining(texts: list[str], inverse: np.ndarray, labels: np.ndarray, min_cover: float = 0.6) -> dict[int, dict[tuple[str, ...], float]]:
    """Per cluster, the phrases (multi-word or identifier-like) that most of its items hold."""
    ph_of = [_phrases_of(t) for t in texts]
    proper = _proper_nouns(texts)
    out: dict[int, dict[tuple[str, ...], float]] = {}
    for c in np.unique(labels):
        members = inverse[labels == c]
        cnt: Counter[tuple[str, ...]] = Counter()
        for u in members:
            cnt.update(ph_of[u])
        n = len(members)
        out[int(c)] = {ph: k / n for ph, k in cnt.items() if k / n >= min_cover and (
            len(ph) > 1 or _identifier_like(ph[0]) or ph in proper)}
    return out


def _merge_by_phrases(texts: list[str], inverse: np.ndarray, labels: np.ndarray, max_outside: float = 0.15) -> np.ndarray:
    """Merge clusters that share a defining phrase which the other items rarely hold."""
    ph_of = [_phrases_of(t) for t in texts]
    holds: dict[tuple[str, ...], np.ndarray] = {}
    defining = _defining(texts, inverse, labels)
    parent = {c: c for c in defining}

    def find(c: int) -> int:
        while parent[c] != c:
            c = parent[c]
        return c

    cs = sorted(defining)
    for i, a in enumerate(cs):
        for b in cs[i + 1:]:
            shared = set(defining[a]) & set(defining[b])
            for ph in shared:
                if ph not in holds:
                    holds[ph] = np.array([ph in ph_of[u] for u in inverse])
                inside = np.isin(labels, [a, b])
                outside = ~inside
                if not outside.any() or holds[ph][outside].mean() < max_outside:
                    parent[find(b)] = find(a)
                    break
    return np.array([find(int(c)) for c in labels], dtype=np.int64)


def _kmeans(E: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None) -> np.ndarray:
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=10, random_state=seed)
    return np.asarray(km.fit_predict(E, sample_weight=weights), dtype=np.int64)


def _split(E: np.ndarray, text_ids: np.ndarray, max_k: int, min_size: int, seed: int) -> np.ndarray | None:
    from sklearn.metrics import silhouette_score

    best: tuple[float, np.ndarray | None] = (0.15, None)
    ids, first, inv, counts = np.unique(text_ids, return_index=True, return_inverse=True, return_counts=True)
    U = E[first]
    for k in range(2, max_k + 1):
        if len(E) < k * min_size or len(U) <= k:
            break
        lab = _kmeans(U, k, seed, counts)[inv]
        if len(np.unique(lab)) < k or np.bincount(lab).min() < min_size:
            continue
        s = float(silhouette_score(E, lab, sample_size=min(2000, len(E)), random_state=seed))
        if s > best[0] + 0.02:
            best = (s, lab)
    return best[1]


def _typical(E: np.ndarray, m: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n`` members nearest the centre and of the ``n`` farthest (boundary)."""
    idx = np.flatnonzero(m)
    centre = E[idx].mean(axis=0)
    sim = E[idx] @ centre
    o = np.argsort(-sim, kind="stable")
    return idx[o[:n]], idx[o[::-1][:n]]


def _phrase_name(phrases: list[str], taken: list[str]) -> str:
    """A name from the best phrase, with the next one that adds to it; a name that collides
    with a taken one uses the phrases that tell it apart."""
    if not phrases:
        return "other"
    cands = []
    for i, p in enumerate(phrases):
        rest = [q for q in phrases[i + 1:] if not (_words(q) & _words(p))]  # adds words of its own
        if rest:
            cands.append(f"{p}: {rest[0]}")
        cands.append(p)
    cands.sort(key=lambda c: 0 if ":" in c and phrases[0] in c else 1)
    for c in cands:
        if not collides(c, taken):
            return c
    return f"{phrases[0]} ({len(taken) + 1})"


def _name_group(texts: list[str], E: np.ndarray, masks: list[np.ndarray], taken: list[str], model: str | None,
                runner: Any, llm_kwargs: dict[str, Any], n_examples: int,
                context: np.ndarray | None = None) -> list[tuple[str, str, list[str], str]]:
    """(name, description, phrases, named_by) for sibling groups ``masks``."""
    inside = np.ones(len(texts), bool) if context is None else context
    sel = np.flatnonzero(inside)
    lab = np.full(len(texts), -1)
    for i, m in enumerate(masks):
        lab[m] = i
    ph = distinctive_phrases([texts[j] for j in sel], lab[sel].tolist(), n_phrases=6)
    out: list[tuple[str, str, list[str], str]] = []
    names: list[str] = []
    # siblings of the parent topics are the other topics of the same level; a sub-topic must also
    # differ from its parent's name
    for i, m in enumerate(masks):
        phrases = ph.get(i, [])
        typ, bnd = _typical(E, m, n_examples)
        offline = _phrase_name(phrases, names + taken)
        desc = texts[int(typ[0])]
        named_by = "phrases"
        name = offline
        if model is not None:
            name, desc, named_by = _llm_name(model, [texts[j] for j in typ], [texts[j] for j in bnd], names + taken,
                                             offline, desc, runner, llm_kwargs)
        names.append(name)
        out.append((name, desc, phrases, named_by))
    return out


_NAME_PROMPT = """You name one topic of a taxonomy of {what}.
Typical members:
{typical}
Boundary members (the edge of the topic):
{boundary}
Names already used by its sibling topics: {taken}
Write a short name (3 to 8 words) that reads as {what_one} and tells this topic apart from the siblings,
and a one-sentence description. Reply with a JSON object {{"name": ..., "description": ...}}."""


def _llm_name(model: str, typical: list[str], boundary: list[str], taken: list[str], offline: str, offline_desc: str,
              runner: Any, llm_kwargs: dict[str, Any], *, what: str = "failures of an LLM application",
              what_one: str = "a failure (what went wrong)", errors: list[str] | None = None) -> tuple[str, str, str]:
    """(name, description, named_by) written by ``model``: a name that collides with ``taken``
    is asked again with it taken too, then the offline name is kept; a failed call's error text
    is appended to ``errors``."""
    tried: list[str] = []
    for _ in range(2):
        prompt = _NAME_PROMPT.format(
            what=what, what_one=what_one,
            typical="\n".join(f"- {t}" for t in typical), boundary="\n".join(f"- {t}" for t in boundary) or "(none)",
            taken=", ".join(repr(t) for t in [*taken, *tried]) or "(none)",
        )
        (data, raw), = ask_json(model, [prompt], runner=runner, **llm_kwargs)
        if not data or not str(data.get("name") or "").strip():
            if errors is not None:
                errors.append(f"naming failed: {raw}"[:300])
            break
        name = str(data["name"]).strip()
        if not collides(name, taken):
            return name, str(data.get("description") or offline_desc).strip(), "llm"
        tried.append(name)  # a collision: asked again with that name taken too
    else:
        if errors is not None:
            errors.append(f"naming failed: the model's names {tried} collide with a sibling's")
    return offline, offline_desc, "phrases (llm name collided or failed)"


def _row(level: int, tid: str, parent: str | None, m: np.ndarray, nm: tuple[str, str, list[str], str],
         df: pd.DataFrame, id_col: str, lang: pd.Series | None, E: np.ndarray, n_examples: int) -> dict[str, Any]:
    name, desc, phrases, named_by = nm
    typ, _ = _typical(E, m, n_examples)
    top_lang, lshare = language_mix(lang, m)
    return {"level": level, "topic": tid, "parent": parent, "name": name, "description": desc, "phrases": phrases,
            "size": int(m.sum()), "share": float(m.mean()), "examples": df[id_col].iloc[typ].tolist(),
            "named_by": named_by, "top_language": top_lang, "language_share": lshare}


def language_mix(lang: pd.Series | None, m: np.ndarray) -> tuple[str | None, float | None]:
    """The most common language among the rows ``m`` and its share (``(None, None)`` without languages)."""
    if lang is None:
        return None, None
    vc = lang[m].value_counts(normalize=True)
    return (str(vc.index[0]), float(vc.iloc[0])) if len(vc) else (None, None)


def detect_languages(texts: Sequence[str], min_chars: int = 15) -> list[str | None]:
    """The language (ISO 639-1, py3langid) of each text with at least ``min_chars`` letters,
    else ``None``; each distinct text classified once.

    Example:
        >>> detect_languages(["No puedo ayudarte con este tema, lo siento.", "I cannot help with this topic, sorry.", "ok"])
        ['es', 'en', None]
    """
    import py3langid

    seen: dict[str, str | None] = {}
    out: list[str | None] = []
    for t in texts:
        if t not in seen:
            letters = sum(ch.isalpha() for ch in t) if isinstance(t, str) else 0
            seen[t] = str(py3langid.classify(t)[0]) if letters >= min_chars else None
        out.append(seen[t])
    return out


def language_neutral(texts: Sequence[str], languages: Sequence[str | None], share: float = 0.9) -> list[str]:
    """The texts without the words that mark a language other than the main one: a word (not
    identifier-like) found in at least 2 texts, at least ``share`` of them in one language that
    is not the most common language of the texts (the function words and phrasing of a Spanish
    answer among English ones: "puedo", "con", "este"). Each word removed breaks the phrase it
    was in, so no phrase spans the gap. Clustering these texts groups items by what they say in
    common, not by the language they are written in; with one language nothing changes.

    Example:
        >>> texts = ["refund denied", "refund denied again", "weak retrieval: refund denied",
        ...          "lo siento, no puedo ayudarte", "weak retrieval: no puedo ayudarte"]
        >>> language_neutral(texts, ["en", "en", "en", "es", "es"])[3:]
        ['lo siento,', 'weak retrieval: ,']
    """
    langs = [None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x).lower() for x in languages]
    known = Counter(x for x in langs if x)
    if len(known) < 2:
        return list(texts)
    main = known.most_common(1)[0][0]
    by_word: dict[str, Counter[str]] = {}
    for t, lg in zip(texts, langs):
        if not lg:
            continue
        for w in {w.lower() for w in _WORD.findall(t)}:
            by_word.setdefault(w, Counter())[lg] += 1
    marking = set()
    for w, c in by_word.items():
        n = sum(c.values())
        lg, k = c.most_common(1)[0]
        if n >= 2 and lg != main and k / n >= share and not _identifier_like(w) and not w.isdigit():
            marking.add(w)
    if not marking:
        return list(texts)

    def strip(t: str) -> str:
        out = _WORD.sub(lambda mt: "," if mt.group(0).lower() in marking else mt.group(0), t)
        return re.sub(r",(\s*,)+", ",", out)

    return [strip(t) for t in texts]
