"""Open and axial coding: notes -> a versioned failure taxonomy -> every trace tagged with a mode."""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import removed_argument, renamed_argument
from llmops_nb.analysis._embed import Embedder, TfidfEmbedder, embed_texts, get_embedder
from llmops_nb.analysis._frame import as_analysis_frame, text_series
from llmops_nb.analysis._llm import ask_json

__all__ = [
    "FailureMode",
    "Taxonomy",
    "TAXONOMIES",
    "notes_from_labels",
    "propose_taxonomy",
    "assign_failure_modes",
    "failure_mode_pivot",
]


def _table() -> Any:
    from llmops_nb.schema import Column, Table

    return Table(
        "taxonomies",
        "one row per saved taxonomy version",
        (
            Column("taxonomy", "str", "Taxonomy name.", True),
            Column("version", "int", "Version number, 1, 2, ... per name; every saved version is kept.", True),
            Column("body", "json", "The taxonomy as Taxonomy.to_dict().", True),
            Column("author", "str", "Who saved it."),
            Column("note", "str", "Why this version was saved."),
            Column("created_at", "time", "When it was saved, UTC.", True),
        ),
    )


TAXONOMIES = "taxonomies"
"""Name of the store table that keeps every saved taxonomy version."""


@dataclass
class FailureMode:
    """One failure mode: a short readable name, a one-line definition, example notes or texts,
    and, when it comes from :func:`topics`, how many items it holds (``count``) and which topic
    ids it was made from (``topics``: membership of those topics assigns the mode).

    Example:
        >>> m = FailureMode("order lookup fails: OrderNotFound", "The tool got the id without ORD-", count=62)
        >>> m.slug, m.count
        ('order_lookup_fails_ordernotfound', 62)
    """

    name: str
    definition: str = ""
    examples: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    count: int | None = None
    topics: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """An identifier made from the name, for places that need one (file names, keys)."""
        return _slug([self.name])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "definition": self.definition, "examples": list(self.examples),
                             "keywords": list(self.keywords)}
        if self.count is not None:
            d["count"] = int(self.count)
        if self.topics:
            d["topics"] = list(self.topics)
        return d


@dataclass
class Taxonomy:
    """A failure taxonomy: named modes with definitions and examples. A plain object: edit
    ``modes`` directly or with :meth:`rename`, :meth:`merge`, :meth:`add`, :meth:`remove`.
    :meth:`save` keeps every version in a store; :meth:`load` reads any version back.

    Example:
        >>> t = Taxonomy([FailureMode("refund", "Invents refund rules"), FailureMode("lang", "Wrong language")])
        >>> t.rename("lang", "wrong_language").names
        ['refund', 'wrong_language']
        >>> Taxonomy.from_dict(t.to_dict()) == t
        True
    """

    modes: list[FailureMode] = field(default_factory=list)
    name: str = "default"
    version: int | None = None
    source: str = ""

    # ------------------------------------------------------------------ editing
    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modes]

    def __len__(self) -> int:
        return len(self.modes)

    def __iter__(self) -> Any:
        return iter(self.modes)

    def __getitem__(self, name: str) -> FailureMode:
        for m in self.modes:
            if m.name == name:
                return m
        raise KeyError(f"no failure mode {name!r}; modes: {self.names}")

    def copy(self) -> Taxonomy:
        return copy.deepcopy(self)

    def add(self, name: str, definition: str = "", examples: Sequence[str] = ()) -> Taxonomy:
        """A copy with one more mode."""
        if name in self.names:
            raise ValueError(f"mode {name!r} already exists; modes: {self.names}")
        t = self.copy()
        t.modes.append(FailureMode(name, definition, list(examples)))
        return t

    def remove(self, name: str) -> Taxonomy:
        """A copy without mode ``name``."""
        self[name]
        t = self.copy()
        t.modes = [m for m in t.modes if m.name != name]
        return t

    def rename(self, old: str, new: str, definition: str | None = None) -> Taxonomy:
        """A copy with mode ``old`` renamed (and its definition replaced when given)."""
        self[old]
        if new != old and new in self.names:
            raise ValueError(f"mode {new!r} already exists; merge them with merge([{old!r}, {new!r}], into={new!r})")
        t = self.copy()
        m = t[old]
        m.name = new
        if definition is not None:
            m.definition = definition
        return t

    def merge(self, names: Sequence[str], into: str, definition: str | None = None) -> Taxonomy:
        """A copy where modes ``names`` become one mode ``into`` (examples, keywords, counts and
        topics pooled)."""
        parts = [self[n] for n in names]
        t = self.copy()
        merged = FailureMode(
            into,
            definition if definition is not None else " / ".join(p.definition for p in parts if p.definition),
            [e for p in parts for e in p.examples],
            list(dict.fromkeys(k for p in parts for k in p.keywords)),
            sum(int(p.count or 0) for p in parts) if all(p.count is not None for p in parts) else None,
            list(dict.fromkeys(t for p in parts for t in p.topics)),
        )
        first = min(self.names.index(n) for n in names)
        kept = [m for m in t.modes if m.name not in names]
        kept.insert(min(first, len(kept)), merged)
        t.modes = kept
        return t

    # ------------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "modes": [m.to_dict() for m in self.modes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Taxonomy:
        modes = [FailureMode(m["name"], m.get("definition", ""), list(m.get("examples", [])),
                             list(m.get("keywords", [])), m.get("count"), list(m.get("topics", [])))
                 for m in d.get("modes", [])]
        return cls(modes, d.get("name", "default"), d.get("version"), d.get("source", ""))

    def to_frame(self) -> pd.DataFrame:
        """One row per mode: name, definition, count (None unless from topics), examples, keywords, topics."""
        return pd.DataFrame([{**m.to_dict(), "count": m.count, "topics": list(m.topics)} for m in self.modes],
                            columns=["name", "definition", "count", "examples", "keywords", "topics"])

    # ------------------------------------------------------------------ versions in a store
    @staticmethod
    def _register(store: Any) -> None:
        store.register(TAXONOMIES, _table(), key=["taxonomy", "version"], sort_by="created_at")

    def save(self, store: Any, *, author: str = "", note: str = "") -> Taxonomy:
        """Save as the next version of ``self.name`` in ``store`` (every version is kept);
        returns the saved taxonomy with its ``version`` set. Saving content identical to the
        latest version saves nothing and returns that version.
        """
        self._register(store)
        hist = Taxonomy.versions(store, self.name)
        body = self.to_dict()
        if len(hist):
            latest = Taxonomy.load(store, self.name)
            if [m.to_dict() for m in latest.modes] == body["modes"]:
                return latest
        version = int(hist["version"].max()) + 1 if len(hist) else 1
        saved = self.copy()
        saved.version = version
        row = pd.DataFrame([{
            "taxonomy": self.name, "version": version, "body": saved.to_dict(), "author": author or None,
            "note": note or None, "created_at": pd.Timestamp(datetime.now(timezone.utc)),
        }])
        store.add(TAXONOMIES, row)
        return saved

    @staticmethod
    def versions(store: Any, name: str | None = None) -> pd.DataFrame:
        """Saved versions (one row per version): taxonomy, version, n_modes, modes, author, note, created_at."""
        Taxonomy._register(store)
        df = store.read(TAXONOMIES) if TAXONOMIES in store.tables() else pd.DataFrame(columns=_table().names)
        if name is not None:
            df = df[df["taxonomy"] == name]
        df = df.sort_values(["taxonomy", "version"]).reset_index(drop=True)
        out = df[["taxonomy", "version", "author", "note", "created_at"]].copy()
        out.insert(2, "modes", [[m["name"] for m in b["modes"]] for b in df["body"]])
        out.insert(2, "n_modes", out["modes"].map(len))
        return out

    @staticmethod
    def load(store: Any, name: str = "default", version: int | None = None) -> Taxonomy:
        """Read a saved taxonomy back (the latest version unless ``version`` is given)."""
        Taxonomy._register(store)
        if TAXONOMIES not in store.tables():
            raise KeyError(f"no taxonomy saved in {store!r}; save one with taxonomy.save(store)")
        df = store.read(TAXONOMIES)
        df = df[df["taxonomy"] == name]
        if df.empty:
            raise KeyError(f"no taxonomy named {name!r}; saved: {sorted(store.read(TAXONOMIES)['taxonomy'].unique())}")
        if version is None:
            row = df.loc[df["version"].astype(int).idxmax()]
        else:
            sel = df[df["version"].astype(int) == int(version)]
            if sel.empty:
                raise KeyError(f"taxonomy {name!r} has no version {version}; versions: {sorted(df['version'].astype(int))}")
            row = sel.iloc[0]
        t = Taxonomy.from_dict(row["body"])
        t.version = int(row["version"])
        return t

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        v = f" v{self.version}" if self.version is not None else ""
        lines = [f"Taxonomy {self.name!r}{v}: {len(self.modes)} failure modes"]
        for m in self.modes:
            n = f" ({m.count:,})" if m.count is not None else ""
            lines.append(f"  - {m.name}{n}: {m.definition}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        v = f" v{self.version}" if self.version is not None else ""
        counted = any(m.count is not None for m in self.modes)
        rows = "".join(
            f"<tr><td><b>{html.escape(m.name)}</b></td>"
            + (f"<td style='text-align:right'>{'' if m.count is None else f'{m.count:,}'}</td>" if counted else "")
            + f"<td>{html.escape(m.definition)}</td>"
            f"<td>{'<br>'.join(html.escape(e[:160]) for e in m.examples[:3])}</td></tr>"
            for m in self.modes
        )
        src = f" from {html.escape(self.source)}" if self.source else ""
        return (f"<div><p>Taxonomy <b>{html.escape(self.name)}</b>{v}: {len(self.modes)} failure modes{src}</p>"
                f"<table><tr><th>mode</th>{'<th>items</th>' if counted else ''}<th>definition</th><th>examples</th>"
                f"</tr>{rows}</table></div>")


# ---------------------------------------------------------------------- notes

def notes_from_labels(labels: pd.DataFrame, question: str = "note") -> pd.DataFrame:
    """The current free-text notes from a labels table (one row per trace and annotator):
    the latest decision per (item, annotator) among set / edit / undo wins; empty notes and
    skips are left out. Columns: trace_id, span_id, annotator, note, created_at.

    Example:
        >>> lab = pd.DataFrame({"label_id": ["1", "2"], "trace_id": ["t", "t"], "span_id": [None, None],
        ...     "item_id": ["t", "t"], "question": ["note", "note"], "value": ["slow", "made up a policy"],
        ...     "action": ["set", "edit"], "annotator": ["ana", "ana"],
        ...     "created_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True)})
        >>> notes_from_labels(lab)["note"].tolist()
        ['made up a policy']
    """
    if "question" not in labels.columns:
        raise ValueError("notes_from_labels needs a labels table (columns question, value, annotator, ...)")
    df = labels[labels["question"] == question]
    if "action" in df.columns:
        df = df[df["action"].isin(["set", "edit", "undo"]) | df["action"].isna()]
    item = df["item_id"] if "item_id" in df.columns else df["trace_id"]
    df = df.assign(_item=item.fillna(df["trace_id"]))
    df = df.sort_values("created_at", kind="stable").drop_duplicates(["_item", "annotator"], keep="last")
    note = df["value"].map(lambda v: v if isinstance(v, str) else (None if v is None else str(v)))
    out = pd.DataFrame({
        "trace_id": df["trace_id"].to_numpy(),
        "span_id": df["span_id"].to_numpy() if "span_id" in df.columns else None,
        "annotator": df["annotator"].to_numpy(),
        "note": note.to_numpy(),
        "created_at": df["created_at"].to_numpy(),
    })
    out = out[out["note"].map(lambda v: isinstance(v, str) and v.strip() != "")]
    return out.reset_index(drop=True)


def _as_notes(notes: Any, column: str | None = None) -> tuple[list[str], list[Any]]:
    """(texts, ids) from a labels table, a frame with a note column, a Series or a list."""
    if isinstance(notes, pd.DataFrame):
        if "question" in notes.columns and column is None:
            notes = notes_from_labels(notes)
            column = "note"
        col = column or next((c for c in ("note", "notes", "text", "value") if c in notes.columns), None)
        if col is None:
            raise ValueError(f"pass column=...: no note column among {list(notes.columns)}")
        ids = notes["trace_id"].tolist() if "trace_id" in notes.columns else notes.index.tolist()
        texts = notes[col].tolist()
    elif isinstance(notes, pd.Series):
        texts, ids = notes.tolist(), notes.index.tolist()
    else:
        texts = list(notes)
        ids = list(range(len(texts)))
    keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    return [texts[i] for i in keep], [ids[i] for i in keep]


def _slug(terms: Sequence[str]) -> str:
    s = "_".join(re.sub(r"[^a-z0-9]+", "_", t.lower()).strip("_") for t in terms if t)
    return s or "mode"


def _llm_json(model: str, prompt: str, **llm_kwargs: Any) -> tuple[dict[str, Any], str]:
    data, raw = ask_json(model, [prompt], **llm_kwargs)[0]
    if data is None:
        raise ValueError(raw)
    return data, raw


def _taxonomy_from_topics(topics: Any, level: int = 1, name: str = "default", n_examples: int = 3) -> Taxonomy:
    """The topics of a :class:`Topics` as a taxonomy: one mode per topic (``level=1``) or per
    leaf (``level=2``: each sub-topic, or the topic itself when it has none), named with the
    topic's readable name, its description as definition, its most typical texts as examples,
    its phrases as keywords, its size as ``count`` and its id in ``topics`` (so renaming or
    merging modes keeps :func:`assign_failure_modes` consistent with topic membership)."""
    if level not in (1, 2):
        raise ValueError(f"level={level!r}; valid: 1 (topics) or 2 (sub-topics where a topic has them)")
    summ = topics.summary
    top = summ[summ["level"] == 1]
    if level == 1:
        rows = list(top.itertuples())
    else:
        rows = []
        for r in top.itertuples():
            subs = summ[(summ["level"] == 2) & (summ["parent"] == r.topic)]
            rows.extend(subs.itertuples() if len(subs) else [r])
    frame = topics.frame
    id_col = topics.settings.get("id_column")
    text_of = dict(zip(frame[id_col], frame["text"])) if id_col in frame.columns else {}
    parent_name = dict(zip(top["topic"], top["name"]))
    modes: list[FailureMode] = []
    used: set[str] = set()
    for r in rows:
        mode_name = str(r.name)
        if mode_name in used and r.level == 2:  # sub-topics are named against their siblings only
            mode_name = f"{parent_name[r.parent]} / {mode_name}"
        while mode_name in used:
            mode_name += f" ({r.topic})"
        used.add(mode_name)
        examples = list(dict.fromkeys(str(text_of[i]) for i in r.examples if i in text_of))[:n_examples]
        modes.append(FailureMode(mode_name, str(r.description or r.name), examples, list(r.phrases),
                                 int(r.size), [str(r.topic)]))
    return Taxonomy(modes, name, source=f"topics({topics.text!r}, level {level}, {topics.settings.get('embedder')})")


def _is_topics(x: Any) -> bool:
    from llmops_nb.analysis._topics import Topics

    return isinstance(x, Topics)


@renamed_argument("random_state", "seed", "llmops_nb.propose_taxonomy")
def propose_taxonomy(
    notes: Any = None,
    method: str = "cluster",
    *,
    topics: Any = None,
    level: int = 1,
    model: str | None = None,
    n_modes: int | None = None,
    column: str | None = None,
    embedder: str | Embedder = "tfidf",
    name: str = "default",
    max_notes: int = 300,
    n_examples: int = 3,
    seed: int = 0,
    **llm_kwargs: Any,
) -> Taxonomy:
    """Group free-text notes ("the first thing that went wrong") into a handful of named
    failure modes with one-line definitions: axial coding.

    ``notes``: a labels table (its ``note`` answers are used), a frame with a note column,
    a Series or a list of strings. ``method="cluster"`` (offline) clusters the notes and
    names each group by its most distinctive phrases; ``method="llm"`` asks ``model`` (any litellm
    model; ``llm_kwargs`` such as ``api_base`` or ``mock_response`` go to
    ``litellm.acompletion`` through the shared runner) for the modes as JSON. Edit the result as a plain object and
    :meth:`Taxonomy.save` it to keep a version.

    ``topics`` (or a :class:`Topics` as ``notes``): the modes are the topics of :func:`topics`
    (``level=1``) or their sub-topics (``level=2``), with the topics' readable names,
    descriptions, examples and member counts; :func:`assign_failure_modes` then assigns by
    topic membership, and renaming or merging modes keeps that consistent.

    Example:
        >>> notes = ["invented a refund policy", "made up refund rules", "refund policy wrong",
        ...          "answered in english to a german user", "english reply to spanish question",
        ...          "wrong language english"]
        >>> t = propose_taxonomy(notes, n_modes=2)
        >>> sorted(len(m.examples) > 0 for m in t.modes), len(t)
        ([True, True], 2)
        >>> from llmops_nb.analysis import topics
        >>> fails = pd.DataFrame({"trace_id": list("abcdef"), "failure": ["lookup fails with OrderNotFound"] * 3
        ...                       + ["answers in English to a Spanish question"] * 3})
        >>> [(m.name, m.count) for m in propose_taxonomy(topics(fails, levels=1, n_topics=2))]
        [('lookup fails with OrderNotFound', 3), ('answers in English: Spanish question', 3)]
    """
    if _is_topics(notes):
        if topics is not None:
            raise ValueError("pass the topics once: propose_taxonomy(topics) or propose_taxonomy(topics=topics)")
        notes, topics = None, notes
    if topics is not None:
        if not _is_topics(topics):
            raise TypeError(f"topics= takes the Topics of lo.topics(...), not {type(topics).__name__}")
        if notes is not None:
            raise ValueError("pass either notes or topics=, not both: the topics already group their items "
                             "(run lo.topics on the notes frame, text=<note column>, to group notes by topic)")
        if method not in ("cluster", "topics"):
            raise ValueError(f"method={method!r} with topics=: the topics are named already; for names written by "
                             "a model use lo.topics(..., name_model=model), then propose_taxonomy(topics)")
        return _taxonomy_from_topics(topics, level=level, name=name, n_examples=n_examples)
    if notes is None:
        raise ValueError("propose_taxonomy needs notes (a labels table, a note column, a list of strings) or "
                         "topics= (the Topics of lo.topics)")
    texts, _ids = _as_notes(notes, column)
    if not texts:
        raise ValueError("no notes to group: every note is empty")
    if method == "cluster":
        from llmops_nb.analysis._cluster import cluster

        if len(texts) < 3:
            few = [FailureMode(" ".join(t.split()[:6]), t, [t], count=1) for t in texts]
            return Taxonomy(few, name, source="cluster")
        frame = pd.DataFrame({"note": texts})
        k = None if n_modes is None else min(n_modes, len(texts))
        res = cluster(frame, text="note", embedder=embedder, method="kmeans", n_clusters=k,
                      max_k=min(12, len(texts) - 1), n_terms=6, seed=seed)
        E, labels = res.embeddings, res.labels
        from llmops_nb.analysis._topics import _phrase_name, distinctive_phrases

        phrases = distinctive_phrases(texts, labels.tolist(), n_phrases=6)
        modes: list[FailureMode] = []
        used: list[str] = []
        for _, row in res.summary.sort_values("size", ascending=False).iterrows():
            c = int(row["cluster"])
            idx = np.flatnonzero(labels == c)
            centre = E[idx].mean(axis=0)
            order = idx[np.argsort(-(E[idx] @ centre))]
            examples = list(dict.fromkeys(texts[i] for i in order))[:n_examples]
            terms = list(row["terms"])
            # a readable name from the group's distinctive phrases, else its most typical note
            mode_name = _phrase_name(phrases.get(c, []), used) if phrases.get(c) else " ".join(examples[0].split()[:6])
            while mode_name in used:
                mode_name += f" ({c})"
            used.append(mode_name)
            definition = (f"{len(idx)} notes about: {', '.join(terms[:5])}; e.g. \"{examples[0][:120]}\""
                          if terms else f"{len(idx)} notes like \"{examples[0][:120]}\"")
            modes.append(FailureMode(mode_name, definition, examples, phrases.get(c, []) or terms, len(idx)))
        return Taxonomy(modes, name, source=f"cluster:{res.settings['embedder']}")
    if method == "llm":
        if model is None:
            raise ValueError("method='llm' needs model=... (any litellm model, e.g. 'openai/gpt-4o-mini')")
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(texts), min(max_notes, len(texts)), replace=False).tolist())
        listed = "\n".join(f"{i + 1}. {texts[j][:300]}" for i, j in enumerate(pick))
        want = f"exactly {n_modes}" if n_modes else "3 to 8"
        prompt = (
            "You are doing axial coding for an error analysis of an LLM application. Below are "
            "free-text notes, each describing the first thing that went wrong in one trace.\n"
            f"Group them into {want} failure modes. Each mode gets a short snake_case name, a "
            "one-line definition, and the numbers of 1 to 3 notes that are typical examples.\n\n"
            f"Notes:\n{listed}\n\n"
            'Reply with JSON only: {"modes": [{"name": "...", "definition": "...", "examples": [1, 2]}]}'
        )
        data, raw = _llm_json(model, prompt, **llm_kwargs)
        items = data.get("modes")
        if not isinstance(items, list) or not items:
            raise ValueError(f"the model's reply has no 'modes' list: {raw[:300]!r}")
        modes = []
        for m in items:
            ex = []
            for e in m.get("examples", []) or []:
                if isinstance(e, int) and 1 <= e <= len(pick):
                    ex.append(texts[pick[e - 1]])
                elif isinstance(e, str):
                    ex.append(e)
            modes.append(FailureMode(_slug([str(m.get("name", "mode"))]), str(m.get("definition", "")), ex))
        return Taxonomy(modes, name, source=f"llm:{model}")
    raise ValueError(f"method={method!r} is not valid; valid: 'cluster' (offline), 'llm' (with model=...)")


# ---------------------------------------------------------------------- assigning

def _mode_text(m: FailureMode) -> str:
    return " ".join([m.name.replace("_", " "), m.definition, *m.examples, " ".join(m.keywords)])


@removed_argument("id_column", "llmops_nb.assign_failure_modes", "rows keep their own ids; it was never read")
def assign_failure_modes(
    frame: pd.DataFrame,
    taxonomy: Taxonomy | Any = None,
    text: str | Sequence[str] | Callable[[pd.DataFrame], Any] = "note",
    method: str = "nearest",
    *,
    topics: Any = None,
    embedder: str | Embedder = "tfidf",
    min_similarity: float | None = None,
    model: str | None = None,
    max_workers: int = 8,
    grain: str = "auto",
    **llm_kwargs: Any,
) -> pd.DataFrame:
    """Tag every row with a failure mode of ``taxonomy`` and the evidence.

    Row grain: one row per input row (a spans frame is taken per trace), the input's columns
    plus ``failure_mode``, ``similarity`` (nearest) or ``reasoning`` (llm), and ``evidence``.
    ``method="nearest"``: each mode's centroid is the embedding of its name, definition,
    examples and keywords (embedded together with the texts); a row takes the most similar
    mode (cosine), or None below ``min_similarity``. ``method="llm"``: ``model`` (litellm)
    reads each text and the modes and answers ``{"reasoning": ..., "answer": <mode or "none">}``.

    With ``topics`` (the :class:`Topics` the taxonomy was made from; or a :class:`Topics` as
    ``taxonomy``, then its level-1 topics are the modes): an item the topics grouped takes the
    mode made from its topic (or sub-topic), whatever the mode is called now (modes renamed or
    merged keep their topic ids), with ``topic``, ``similarity`` (cosine to the topic's centre)
    and the topic as evidence; an item the topics left out for having no failure text gets no
    mode; other rows are assigned by ``method`` from ``text`` when the frame has it, else get no
    mode with a warning. A frame none of whose ids the topics know raises a ValueError.

    Example:
        >>> t = Taxonomy([FailureMode("refund_policy", "invents refund rules", ["made up a refund policy"]),
        ...               FailureMode("wrong_language", "answers in the wrong language", ["replied in english"])])
        >>> df = pd.DataFrame({"note": ["the refund policy was invented", "reply was in english not german"]})
        >>> assign_failure_modes(df, t)["failure_mode"].tolist()
        ['refund_policy', 'wrong_language']
        >>> from llmops_nb.analysis import topics
        >>> fails = pd.DataFrame({"trace_id": list("abcdef"), "failure": ["lookup fails with OrderNotFound"] * 3
        ...                       + ["answers in English to a Spanish question"] * 3})
        >>> assign_failure_modes(fails, topics(fails, levels=1, n_topics=2))["failure_mode"].tolist()[2:4]
        ['lookup fails with OrderNotFound', 'answers in English: Spanish question']
    """
    if _is_topics(taxonomy):
        if topics is not None and topics is not taxonomy:
            raise ValueError("pass the topics once: assign_failure_modes(frame, topics) or "
                             "assign_failure_modes(frame, taxonomy, topics=topics)")
        topics, taxonomy = taxonomy, None
    if topics is not None:
        if not _is_topics(topics):
            raise TypeError(f"topics= takes the Topics of lo.topics(...), not {type(topics).__name__}")
        if taxonomy is None:
            taxonomy = _taxonomy_from_topics(topics)
        return _assign_by_topics(frame, taxonomy, topics, text, method, grain=grain, embedder=embedder,
                                 min_similarity=min_similarity, model=model, max_workers=max_workers, **llm_kwargs)
    if taxonomy is None:
        raise ValueError("assign_failure_modes needs a taxonomy (propose_taxonomy(...)) or topics (lo.topics(...))")
    if not len(taxonomy.modes):
        raise ValueError("the taxonomy has no modes")
    df = as_analysis_frame(frame, grain)
    texts = text_series(df, text).tolist()
    out = df.copy()
    names = taxonomy.names
    if method == "nearest":
        emb = get_embedder(embedder)
        mode_texts = [_mode_text(m) for m in taxonomy.modes]
        if isinstance(emb, TfidfEmbedder) or not getattr(emb, "cacheable", True):
            E = embed_texts(texts + mode_texts, emb, cache=False)
            X, C = E[: len(texts)], E[len(texts):]
        else:
            X = embed_texts(texts, emb)
            C = embed_texts(mode_texts, emb)
            # a mode's centroid: the mean of its definition and examples, each embedded
            parts = []
            for m in taxonomy.modes:
                vecs = embed_texts([m.definition or m.name, *m.examples], emb)
                parts.append(vecs.mean(axis=0))
            C = np.asarray(parts, dtype=np.float32)
        C = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        S = Xn @ C.T
        best = S.argmax(axis=1)
        sim = S[np.arange(len(S)), best]
        second = np.sort(S, axis=1)[:, -2] if S.shape[1] > 1 else np.zeros(len(S))
        modes = [names[b] for b in best]
        empty = np.array([not t.strip() for t in texts], dtype=bool)
        if min_similarity is not None:
            modes = [m if s >= min_similarity else None for m, s in zip(modes, sim)]
        modes = [None if e else m for m, e in zip(modes, empty)]
        out["failure_mode"] = pd.Series(modes, index=out.index, dtype=object)
        out["similarity"] = sim
        out["evidence"] = [
            None if m is None else f"cosine {s:.2f} to {m} (next best {s2:.2f})"
            for m, s, s2 in zip(modes, sim, second)
        ]
        return out
    if method == "llm":
        if model is None:
            raise ValueError("method='llm' needs model=... (any litellm model)")
        listing = "\n".join(f"- {m.name}: {m.definition}" for m in taxonomy.modes)

        def prompt_of(t: str) -> str:
            return (
                "Which failure mode of this LLM application trace does the text show?\n"
                f"Failure modes:\n{listing}\n- none: none of the above\n\nText:\n{t[:4000]}\n\n"
                'Reply with JSON only: {"reasoning": "<one or two sentences>", "answer": "<mode name or none>"}'
            )

        asked = [i for i, t in enumerate(texts) if t.strip()]
        replies = dict(zip(asked, ask_json(model, [prompt_of(texts[i]) for i in asked], concurrency=max_workers,
                                           **llm_kwargs)))

        def ask(i: int) -> tuple[str | None, str]:
            if i not in replies:
                return None, "empty text"
            data, raw = replies[i]
            if data is None:  # a failed call is recorded, never crashes the run
                return None, f"error: {raw}"[:300]
            ans = str(data.get("answer", "")).strip()
            reasoning = str(data.get("reasoning", ""))
            if ans in names:
                return ans, reasoning
            low = {n.lower(): n for n in names}
            if ans.lower() in low:
                return low[ans.lower()], reasoning
            return None, reasoning if ans.lower() == "none" else f"unknown answer {ans!r}: {reasoning}"

        res = [ask(i) for i in range(len(texts))]
        out["failure_mode"] = pd.Series([r[0] for r in res], index=out.index, dtype=object)
        out["reasoning"] = [r[1] for r in res]
        out["evidence"] = out["reasoning"]
        return out
    raise ValueError(f"method={method!r} is not valid; valid: 'nearest', 'llm' (with model=...)")


def _assign_by_topics(frame: pd.DataFrame, taxonomy: Taxonomy, topics: Any, text: Any, method: str, *,
                      grain: str, **kw: Any) -> pd.DataFrame:
    """Modes from topic membership (see :func:`assign_failure_modes`)."""
    import warnings

    if not len(taxonomy.modes):
        raise ValueError("the taxonomy has no modes")
    summ = topics.summary
    known = set(summ["topic"].astype(str))
    mode_of: dict[str, str] = {}
    for m in taxonomy.modes:
        for tid in m.topics:
            mode_of[str(tid)] = m.name
    missing = sorted({str(t) for m in taxonomy.modes for t in m.topics} - known)
    if missing:
        raise ValueError(
            f"taxonomy {taxonomy.name!r} has modes made from topics {missing} that these topics do not have "
            f"(their topics: {sorted(known)[:12]}): build the taxonomy from these topics with "
            "lo.propose_taxonomy(topics), or pass the topics it was made from")
    if not mode_of:
        raise ValueError(
            f"no mode of taxonomy {taxonomy.name!r} was made from topics, so topic membership says nothing: build "
            "it with lo.propose_taxonomy(topics), or leave out topics= to assign by similarity of a text column")
    id_col = str(topics.settings.get("id_column"))
    if "evaluator" in frame.columns and "value" in frame.columns and \
            frame["evaluator"].astype(str).str.startswith("facets.").any():
        from llmops_nb.analysis._facets import facet_table

        frame = facet_table(frame)  # facet result rows: one row per item
    df = as_analysis_frame(frame, grain)
    if id_col not in df.columns:
        raise ValueError(
            f"the topics identify their items by {id_col!r}, a column this frame lacks (columns: "
            f"{list(df.columns)[:15]}): pass the frame lo.topics() grouped, or one with its {id_col!r} column; or "
            "assign by similarity: lo.assign_failure_modes(frame, topics.to_taxonomy(), text=<a text column>)")
    tf = topics.frame
    # an item's mode: its sub-topic's when a mode was made from that, else its topic's
    subs = tf["subtopic"].astype(object).where(tf["subtopic"].notna(), None).tolist()
    item_tid = np.array([sb if sb is not None and sb in mode_of else str(tp)
                         for sb, tp in zip(subs, tf["topic"].astype(str))], dtype=object)
    tid_of = dict(zip(tf[id_col], item_tid))
    ids = df[id_col]
    member = ids.isin(tid_of.keys()).to_numpy()
    left_out = ids.isin(set(topics.left_out)).to_numpy() & ~member
    unknown = ~member & ~left_out
    if not member.any() and not left_out.any():
        raise ValueError(
            f"none of this frame's {len(df)} {id_col}s is among the {len(tf)} items lo.topics() grouped (frame: "
            f"{ids.head(3).tolist()}, topics: {tf[id_col].head(3).tolist()}): pass the items the topics were made "
            "from (the same facet rows, traces or sessions), or assign by similarity: "
            "lo.assign_failure_modes(frame, topics.to_taxonomy(), text=<a text column>)")
    out = df.copy()
    row_tid: list[str | None] = [tid_of.get(i) for i in ids]
    modes: list[str | None] = [mode_of.get(c) if c is not None else None for c in row_tid]
    sim = np.full(len(df), np.nan)
    name_of = dict(zip(summ["topic"].astype(str), summ["name"]))
    E = topics.embeddings
    if E is not None and len(E) == len(tf):
        pos = {i: k for k, i in enumerate(tf[id_col])}
        En = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        centre = {c: En[item_tid == c].mean(axis=0) for c in set(item_tid.tolist())}
        for r, (i, c) in enumerate(zip(ids, row_tid)):
            if c is not None and i in pos:
                v = centre[c]
                sim[r] = float(En[pos[i]] @ v / max(float(np.linalg.norm(v)), 1e-12))
    evidence: list[str | None] = []
    for c, mode, cs in zip(row_tid, modes, sim):
        if c is None:
            evidence.append(None)
        elif mode is None:
            evidence.append(f"topic {c} {name_of.get(c)!r}: no mode of the taxonomy was made from it")
        else:
            cos = f" (cosine {cs:.2f} to its centre)" if np.isfinite(cs) else ""
            evidence.append(f"member of topic {c} {name_of.get(c)!r}{cos}")
    for j in np.flatnonzero(left_out).tolist():
        evidence[j] = f"no {topics.text} text (empty or 'none'): left out of the topics"
    out["failure_mode"] = pd.Series(modes, index=out.index, dtype=object)
    out["topic"] = pd.Series(row_tid, index=out.index, dtype=object)
    out["similarity"] = sim
    out["evidence"] = pd.Series(evidence, index=out.index, dtype=object)
    if unknown.any():
        rest = df[unknown]
        try:
            text_series(rest, text)
        except (KeyError, ValueError, TypeError):
            warnings.warn(
                f"{int(unknown.sum())} of {len(df)} rows are not among the items lo.topics() grouped (e.g. "
                f"{rest[id_col].head(3).tolist()}): they get no failure mode. Run lo.topics over these items too, "
                f"or pass text=<a text column> to assign them by similarity",
                UserWarning, stacklevel=3)
        else:
            near = assign_failure_modes(rest, taxonomy, text, method, grain="row", **kw)
            out.loc[unknown, "failure_mode"] = near["failure_mode"].to_numpy()
            if "similarity" in near.columns:
                out.loc[unknown, "similarity"] = near["similarity"].to_numpy()
            out.loc[unknown, "evidence"] = [None if e is None else f"not in the topics; by {method}: {e}"
                                            for e in near["evidence"]]
    return out


def failure_mode_pivot(
    assigned: pd.DataFrame,
    by: str | Iterable[str] = "category",
    *,
    mode_column: str = "failure_mode",
    normalize: str | None = None,
) -> pd.DataFrame:
    """Counts of failure modes (rows) by a slice column (columns): ``by`` is a column, a
    metadata key, ``model`` or ``tool`` (as :func:`find_slices` reads them); numeric columns
    are bucketed. ``normalize="columns"`` gives the share of each mode within a slice value,
    ``"index"`` the spread of each mode over the values. Totals in the ``All`` margins.

    Example:
        >>> df = pd.DataFrame({"failure_mode": ["a", "a", "b"], "metadata": [{"c": "x"}, {"c": "y"}, {"c": "x"}]})
        >>> failure_mode_pivot(df, by="c").loc["a", "x"]
        np.int64(1)
    """
    from llmops_nb.analysis._dims import build_dimensions

    if mode_column not in assigned.columns:
        raise KeyError(f"{mode_column!r} is not a column; run assign_failure_modes first")
    bys = [by] if isinstance(by, str) else list(by)
    dims, skipped = build_dimensions(assigned, bys, max_levels=10**6)
    if skipped:
        raise ValueError(f"cannot pivot by {skipped}")
    mode = assigned[mode_column].astype(object).where(assigned[mode_column].notna(), "(none)").to_numpy()
    frames = []
    for d in dims:
        M = d.matrix.tocsc()
        counts = {}
        for j, lab in enumerate(d.labels):
            rows = M.indices[M.indptr[j]:M.indptr[j + 1]]
            counts[lab if len(dims) == 1 else f"{d.name}={lab}"] = pd.Series(mode[rows]).value_counts()
        frames.append(pd.DataFrame(counts).fillna(0).astype(np.int64))
    table = pd.concat(frames, axis=1)
    table.index.name = mode_column
    table.columns.name = bys[0] if len(bys) == 1 else "slice"
    if normalize == "columns":
        return table / table.sum(axis=0)
    if normalize == "index":
        return table.div(table.sum(axis=1), axis=0)
    if normalize is not None:
        raise ValueError(f"normalize={normalize!r} is not valid; valid: None, 'columns', 'index'")
    table["All"] = pd.Series(mode).value_counts().reindex(table.index).fillna(0).astype(np.int64)
    table.loc["All"] = table.sum(axis=0)
    table.loc["All", "All"] = len(mode)
    return table
