"""``push``: write results, labels, failure modes and datasets back to the backend the traces came
from (Langfuse scores, Phoenix annotations, LangSmith feedback, MLflow assessments, Datadog
evaluation metrics), idempotently.

The rows sent are keyed by what they are about (evaluator or question, trace, span, annotator):
an edited label or a re-run evaluator changes the row's hash, and the next push updates the remote
score where the backend's API allows (or says in the report that it could not). What was sent is
recorded per target and row key in the store's state, so pushing again sends only what is new or
changed. Ids map back to the backend's own through the stored spans (``source_format`` and the ids
the loader kept); a row about a trace that did not come from that backend is reported, never sent
with a guessed id.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

import orjson
import pandas as pd

from llmops_nb.connectors._base import Source, get_source, iso
from llmops_nb.connectors._http import HttpClient, PullError, Retry, safe_url, scrub

__all__ = ["push", "PushReport", "PushRow", "push_rows", "Target", "get_target", "targets"]

log = logging.getLogger("llmops_nb.connectors")

EXPECTATION_QUESTIONS = ("expected_output", "expected", "reference", "correction", "ideal_output")
"""Label questions that are ground truth (MLflow expectations, dataset outputs) rather than feedback."""


# ------------------------------------------------------------------------------------ rows

@dataclass
class PushRow:
    """One score to write: what it is about (``trace_id``/``span_id``/``session_id`` as stored),
    its ``name`` and ``value``, a ``comment``, who made it (``annotator``, ``annotator_kind``
    HUMAN / LLM / CODE) and ``key``, the identity an edit keeps.

    Example:
        >>> r = PushRow(key="res-1", origin="result", name="correctness", value=0.9, comment=None,
        ...             annotator=None, annotator_kind="LLM", trace_id="t1", span_id=None)
        >>> r.name, r.value
        ('correctness', 0.9)
    """

    key: str
    origin: str  # result, label or failure_mode
    name: str
    value: Any
    comment: str | None
    annotator: str | None
    annotator_kind: str
    trace_id: str | None
    span_id: str | None
    session_id: str | None = None
    expectation: bool = False
    ids: dict[str, Any] = field(default_factory=dict)
    """The backend's own ids, filled by the target's mapping."""

    @property
    def data_type(self) -> str:
        """BOOLEAN, NUMERIC or CATEGORICAL (Langfuse's names; the others map from them)."""
        if isinstance(self.value, bool):
            return "BOOLEAN"
        if isinstance(self.value, (int, float)):
            return "NUMERIC"
        return "CATEGORICAL"

    @property
    def score(self) -> float | None:
        if isinstance(self.value, bool):
            return 1.0 if self.value else 0.0
        return float(self.value) if isinstance(self.value, (int, float)) else None

    @property
    def text(self) -> str | None:
        """The value as a category: text stays, lists and objects as JSON text, bools pass/fail."""
        v = self.value
        if v is None or isinstance(v, (int, float)) and not isinstance(v, bool):
            return None
        if isinstance(v, bool):
            return "pass" if v else "fail"
        return v if isinstance(v, str) else orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()

    def content_hash(self) -> str:
        body = [self.name, self.value, self.comment, self.annotator, self.annotator_kind, self.expectation,
                self.trace_id, self.span_id, self.session_id]
        return hashlib.sha1(orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY,
                                         default=str)).hexdigest()[:16]


def _clean(v: Any) -> Any:
    from llmops_nb.schema import none_if_missing

    v = none_if_missing(v)
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            return v.item()
        except (AttributeError, ValueError):
            return v
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    return v


def _s(v: Any) -> str | None:
    v = _clean(v)
    return None if v is None else str(v)


def _key(*parts: Any) -> str:
    return "|".join("" if p is None else str(p) for p in parts)


def _latest(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if "created_at" in df.columns:
        df = df.sort_values("created_at", kind="stable")
    return df.drop_duplicates(subset=[c for c in by if c in df.columns], keep="last")


def push_rows(
    results: pd.DataFrame | None = None, labels: pd.DataFrame | None = None, failure_modes: pd.DataFrame | None = None,
) -> tuple[list[PushRow], list[dict[str, Any]]]:
    """The rows a push would send, and the rows it leaves out (with the reason).

    Results: the latest row per (evaluator, trace, span, session); an error row (the evaluator
    failed) is left out. Labels: the current decision per (question, trace, span, session,
    annotator) (``skip``/``flag`` decisions are not scores; an ``undo`` withdraws it). Failure
    modes: one categorical ``failure_mode`` per row of :func:`assign_failure_modes`' frame.

    Example:
        >>> import pandas as pd
        >>> res = pd.DataFrame({"result_id": ["r1"], "evaluator": ["len_ok"], "trace_id": ["t1"], "span_id": [None],
        ...                     "value": [True], "explanation": ["short"]})
        >>> rows, left = push_rows(results=res)
        >>> rows[0].name, rows[0].data_type, rows[0].annotator_kind, left
        ('len_ok', 'BOOLEAN', 'CODE', [])
    """
    rows: list[PushRow] = []
    left: list[dict[str, Any]] = []
    if results is not None and len(results):
        df = results.copy()
        for c in ("span_id", "session_id", "judge_model", "error", "explanation", "value", "label", "score", "params"):
            if c not in df.columns:
                df[c] = None
        df = _latest(df, ["evaluator", "trace_id", "span_id", "session_id"])
        for r in df.itertuples(index=False):
            value = _clean(r.value)
            if value is None:
                value = _clean(r.score) if _clean(r.score) is not None else _clean(r.label)
            if value is None:
                left.append({"origin": "result", "name": r.evaluator, "trace_id": _s(r.trace_id), "span_id": _s(r.span_id),
                             "reason": f"no value (evaluator error: {_s(r.error) or 'none'})"})
                continue
            judge = _s(r.judge_model)
            rows.append(PushRow(
                key=_key("result", r.evaluator, _s(r.trace_id), _s(r.span_id), _s(r.session_id)), origin="result",
                name=str(r.evaluator), value=value, comment=_s(r.explanation), annotator=judge or "llmops-nb",
                annotator_kind="LLM" if judge else "CODE", trace_id=_s(r.trace_id), span_id=_s(r.span_id),
                session_id=_s(r.session_id),
            ))
    if labels is not None and len(labels):
        df = labels.copy()
        for c in ("span_id", "session_id", "action", "reason", "annotator"):
            if c not in df.columns:
                df[c] = None
        df = df[~df["action"].isin(["skip", "flag"])]
        df = _latest(df, ["question", "trace_id", "span_id", "session_id", "annotator"])
        for r in df.itertuples(index=False):
            key = _key("label", r.question, _s(r.trace_id), _s(r.span_id), _s(r.session_id), _s(r.annotator))
            if r.action == "undo" or _clean(r.value) is None:
                left.append({"origin": "label", "name": r.question, "trace_id": _s(r.trace_id), "span_id": _s(r.span_id),
                             "reason": "withdrawn (undo) or empty", "key": key})
                continue
            rows.append(PushRow(
                key=key, origin="label", name=str(r.question), value=_clean(r.value), comment=_s(r.reason),
                annotator=_s(r.annotator), annotator_kind="HUMAN", trace_id=_s(r.trace_id), span_id=_s(r.span_id),
                session_id=_s(r.session_id), expectation=str(r.question) in EXPECTATION_QUESTIONS,
            ))
    if failure_modes is not None and len(failure_modes):
        df = failure_modes.copy()
        if "failure_mode" not in df.columns:
            raise ValueError(
                f"failure_modes has no 'failure_mode' column (columns: {list(df.columns)[:12]}); pass the frame "
                "lo.assign_failure_modes(...) returns"
            )
        for c in ("trace_id", "span_id", "session_id", "evidence", "reasoning"):
            if c not in df.columns:
                df[c] = None
        for r in df.itertuples(index=False):
            mode = _s(r.failure_mode)
            if mode is None:
                continue
            llm = _s(r.reasoning) is not None
            rows.append(PushRow(
                key=_key("failure_mode", _s(r.trace_id), _s(r.span_id), _s(r.session_id)), origin="failure_mode",
                name="failure_mode", value=mode, comment=_s(r.reasoning) or _s(r.evidence),
                annotator="llmops-nb", annotator_kind="LLM" if llm else "CODE", trace_id=_s(r.trace_id),
                span_id=_s(r.span_id), session_id=_s(r.session_id),
            ))
    return rows, left


# ------------------------------------------------------------------------------------ ids

class Unmapped(Exception):
    """A row whose item did not come from the target backend (its reason is the message)."""


@dataclass
class SpanIndex:
    """The stored spans of one backend (``source_format``), to map ids back."""

    spans: pd.DataFrame
    fmt: str

    def __post_init__(self) -> None:
        df = self.spans
        if df is None or not len(df) or "source_format" not in df.columns:
            df = pd.DataFrame(columns=["trace_id", "span_id", "parent_span_id", "attributes", "source_format"])
        df = df[df["source_format"] == self.fmt]
        n = len(df)
        attrs = df["attributes"] if "attributes" in df.columns else [None] * n
        meta = df["metadata"] if "metadata" in df.columns else [None] * n
        self.by_span = {(t, s): (a, m) for t, s, a, m in zip(df["trace_id"], df["span_id"], attrs, meta)}
        self.traces = set(df["trace_id"])
        self.sessions = set(df["session_id"].dropna()) if "session_id" in df.columns else set()
        self.roots: dict[str, str] = {}
        parent = df["parent_span_id"] if "parent_span_id" in df.columns else [None] * n
        for t, s, p in zip(df["trace_id"], df["span_id"], parent):
            if _clean(p) is None:
                self.roots[t] = s
        self.of_trace: dict[str, Any] = {}
        for (t, _sid), am in self.by_span.items():
            if any(isinstance(x, (Mapping, str)) for x in am) and t not in self.of_trace:
                self.of_trace[t] = am

    def check(self, row: PushRow, *, need_trace: bool = True) -> None:
        if row.trace_id is None:
            if row.session_id is not None:
                raise Unmapped(f"a session-level row: the {self.fmt} API scores traces and spans here")
            raise Unmapped("no trace id")
        if row.trace_id not in self.traces:
            raise Unmapped(f"trace {row.trace_id} was not loaded from {self.fmt} (pull it or load its export first)")
        if row.span_id is not None and (row.trace_id, row.span_id) not in self.by_span:
            raise Unmapped(f"span {row.span_id} of trace {row.trace_id} was not loaded from {self.fmt}")

    def attr(self, row: PushRow, key: str) -> Any:
        """What the loader kept under ``key`` (in metadata or attributes) for the row's span, or
        for any span of its trace when the row is about the whole trace."""
        am = self.by_span.get((row.trace_id, row.span_id)) if row.span_id else None
        for a in (am or ()) + tuple(self.of_trace.get(row.trace_id or "") or ()):
            if isinstance(a, str) and a.startswith("{"):  # JSON text, as Store.sql returns it
                try:
                    a = orjson.loads(a)
                except orjson.JSONDecodeError:
                    continue
            if isinstance(a, Mapping) and a.get(key) is not None:
                return a[key]
        return None


# ------------------------------------------------------------------------------------ report

@dataclass
class PushReport:
    """What one push did: rows sent (created / updated), unchanged rows skipped, rows left out
    (``unmapped``: their item came from elsewhere; ``skipped``: nothing to send), edits the
    backend cannot update (``not_updated``), failures, requests, retries. Never holds a
    credential.

    Example:
        >>> PushReport(target="langfuse", project=None, url="http://127.0.0.1:1").sent
        0
    """

    target: str
    project: str | None
    url: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    appended_edits: int = 0
    dataset: dict[str, Any] | None = None
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    not_updated: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list, repr=False)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    complete: bool = False
    error: str | None = None

    @property
    def sent(self) -> int:
        """Rows written (created + updated + edits appended as new scores)."""
        return self.created + self.updated + self.appended_edits

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("planned")
        d["sent"] = self.sent
        return d

    def __str__(self) -> str:
        status = "complete" if self.complete else f"stopped: {self.error}"
        verb = "would send" if self.dry_run else "sent"
        ds = ""
        if self.dataset:
            ds = (f"; dataset {self.dataset.get('name')!r}: {self.dataset.get('created', 0)} items created, "
                  f"{self.dataset.get('updated', 0)} updated, {self.dataset.get('unchanged', 0)} unchanged, "
                  f"{self.dataset.get('unlinked', 0)} not linked to a {self.target} trace")
        notes = ""
        if self.not_updated:
            notes = f"; {len(self.not_updated)} edits sent as new scores ({self.not_updated[0]['reason']})"
        return (
            f"push to {self.target} ({self.url}, project {self.project or 'default'}): {verb} {self.sent} of {self.rows} rows "
            f"({self.created} new, {self.updated} updated, {self.appended_edits} edits appended), {self.unchanged} unchanged, "
            f"{len(self.unmapped)} not from {self.target} (not sent), {len(self.skipped)} skipped (no value, or pulled from it), "
            f"{len(self.failed)} failed{ds}{notes}; {self.requests} requests, {self.retries} retries "
            f"({self.rate_limited} rate-limited) in {self.seconds:.1f}s; {status}"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v if not isinstance(v, list) else len(v)))}</td></tr>"
            for k, v in self.to_dict().items()
        )
        return f"<div><b>PushReport</b><table>{rows}</table></div>"


# ------------------------------------------------------------------------------------ targets

class Target:
    """How one backend takes scores and datasets: id mapping, request bodies, update support.

    Subclasses set ``name``, ``can_update`` (an edit replaces the remote score) and implement
    :meth:`map_ids`, :meth:`send` and (where the backend has datasets) :meth:`send_dataset`.
    The connection (URL, credentials, retries) is the pull :class:`Source` of the same name.

    Example:
        >>> get_target("langfuse").can_update  # an edit replaces the remote score
        True
    """

    name: ClassVar[str] = ""
    can_update: ClassVar[bool] = True
    update_note: ClassVar[str] = ""
    batch: ClassVar[int] = 1

    def __init__(self, source: Source) -> None:
        self.source = source

    @property
    def project(self) -> str | None:
        return self.source.project

    def client(self) -> HttpClient:
        return self.source.client()

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, dict[str, Any] | list[Any]]]:
        """(rows, method, path, body) for each request that writes ``rows``; ``sent`` holds what
        earlier pushes recorded per row key (``[hash, remote_id]``)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def fallback(self, req: tuple[list[PushRow], str, str, Any], error: str) -> tuple[list[PushRow], str, str, Any] | None:
        """Another request for ``req`` after it failed with ``error`` (e.g. create -> update when
        the item already exists), or None."""
        return None

    def remote_ids(self, rows: list[PushRow], answer: Any) -> list[Any]:
        """The remote id of each row after its request (default: the id the body chose)."""
        return [r.ids.get("remote_id") for r in rows]

    async def send_dataset(self, client: HttpClient, name: str, items: list[dict[str, Any]], state: dict[str, Any],
                           report: PushReport, dry_run: bool) -> None:
        raise ValueError(f"the {self.name} target has no datasets; valid dataset targets: "
                         f"{sorted(n for n, c in _TARGETS.items() if c.send_dataset is not Target.send_dataset)}")


_TARGETS: dict[str, type[Target]] = {}


def register_target(cls: type[Target]) -> type[Target]:
    """Register a :class:`Target` subclass under ``cls.name`` (usable as a decorator)."""
    _TARGETS[cls.name] = cls
    return cls


def get_target(name: str) -> type[Target]:
    """The target class called ``name``.

    Example:
        >>> get_target("langfuse").__name__
        'LangfuseTarget'
    """
    from llmops_nb.connectors import _push_targets  # noqa: F401

    if name not in _TARGETS:
        raise ValueError(f"unknown push target {name!r}; valid targets: {sorted(_TARGETS)}")
    return _TARGETS[name]


def targets() -> list[str]:
    """The names ``push`` knows.

    Example:
        >>> from llmops_nb.connectors import targets
        >>> targets()
        ['datadog', 'langfuse', 'langsmith', 'mlflow', 'phoenix']
    """
    from llmops_nb.connectors import _push_targets  # noqa: F401

    return sorted(_TARGETS)


# ------------------------------------------------------------------------------------ push

def _frame(x: Any, what: str) -> pd.DataFrame | None:
    if x is None:
        return None
    if isinstance(x, pd.DataFrame):
        return x
    for attr in ("to_pandas", "to_frame"):
        if hasattr(x, attr):
            return getattr(x, attr)()
    if hasattr(x, "frame") and isinstance(x.frame, pd.DataFrame):
        return x.frame
    raise TypeError(f"{what}= is a {type(x).__name__}; pass a pandas DataFrame (or an object with to_pandas())")


def push(
    target: str,
    *,
    results: Any = None,
    labels: Any = None,
    failure_modes: Any = None,
    dataset: Any = None,
    dataset_name: str | None = None,
    project: str | None = None,
    store: Any = None,
    spans: pd.DataFrame | None = None,
    url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    concurrency: int = 4,
    retry: Retry | None = None,
    dry_run: bool = False,
    progress: bool = True,
) -> PushReport:
    """Write results, labels, failure modes and a dataset back to ``target`` (``"langfuse"``,
    ``"phoenix"``, ``"langsmith"``, ``"mlflow"``, ``"datadog"``); returns a :class:`PushReport`.

    Langfuse: scores (NUMERIC / BOOLEAN / CATEGORICAL, comment) on traces and observations,
    datasets with items linked to their source trace and observation. Phoenix: span and trace
    annotations with annotator kind HUMAN / LLM / CODE; datasets. LangSmith: feedback with its
    source and comment; datasets with examples. MLflow: assessments (feedback, and expectations
    for ground-truth questions such as ``expected_output``); evaluation datasets. Datadog:
    evaluation metrics joined on span and trace id (``project`` is the ``ml_app``).

    Ids map back through the stored spans (``spans=`` or the store's): only rows about traces
    loaded from ``target`` are sent; the others are listed in ``report.unmapped``. Idempotent:
    what was sent is recorded in the store per target, project and row; a second push sends only
    new or changed rows, and an edit updates the remote score where the API allows (Langfuse,
    Phoenix, LangSmith, MLflow) or is sent as a new one and listed in ``report.not_updated``
    (Datadog). ``dry_run=True`` sends nothing and lists the requests in ``report.planned``.
    Same credentials, retries (429 with ``Retry-After``, 5xx), rate limits and secret scrubbing
    as :func:`pull`; a request that fails after its retries leaves the rest sent and recorded,
    and raises a ``PullError`` carrying the report (``err.report``): push again to resume.

    Example:
        >>> import llmops_nb as lo
        >>> report = lo.push("langfuse", results=store.results(), labels=store.labels())  # doctest: +SKIP
        >>> lo.push("langfuse", results=store.results()).sent  # nothing changed since  # doctest: +SKIP
        0
    """
    from llmops_nb.connectors._pull import _run
    from llmops_nb.store import as_store

    tcls = get_target(target)
    src = get_source(target)(url=url, credentials=credentials, project=project, concurrency=concurrency, retry=retry)
    tgt = tcls(src)
    st = as_store(store)
    res, labs = _frame(results, "results"), _frame(labels, "labels")
    own: list[dict[str, Any]] = []  # rows pulled from this very backend: already there
    if res is not None and "result_id" in res.columns and len(res):
        mine = res["result_id"].astype(str).str.startswith(f"{target}:")
        own += [{"origin": "result", "name": n, "reason": f"pulled from {target}"} for n in res.loc[mine, "evaluator"]]
        res = res[~mine]
    if labs is not None and "label_id" in labs.columns and len(labs):
        mine = labs["label_id"].astype(str).str.startswith(f"{target}:")
        own += [{"origin": "label", "name": n, "reason": f"pulled from {target}"} for n in labs.loc[mine, "question"]]
        labs = labs[~mine]
    rows, left = push_rows(res, labs, _frame(failure_modes, "failure_modes"))
    left = own + left
    ds = _frame(dataset, "dataset")
    if ds is not None:
        dataset_name = dataset_name or getattr(dataset, "name", None) or ds.attrs.get("name") or "llmops-nb"
    if (rows or ds is not None) and spans is None:  # the ids the target's spans kept, nothing more
        spans = st.sql("SELECT trace_id, span_id, parent_span_id, session_id, source_format, metadata FROM spans "
                       "WHERE source_format = ?", [src.format])
    return _run(_push(tgt, st, rows, left, spans, ds, dataset_name, dry_run, progress))


def _state_key(tgt: Target) -> str:
    return f"push/{tgt.name}/{tgt.project or 'default'}"


async def _push(tgt: Target, store: Any, rows: list[PushRow], left: list[dict[str, Any]], spans: pd.DataFrame | None,
                ds: pd.DataFrame | None, ds_name: str | None, dry_run: bool, progress: bool) -> PushReport:
    t0 = time.perf_counter()
    report = PushReport(target=tgt.name, project=tgt.project, url=safe_url(tgt.source.base_url()), dry_run=dry_run)
    key = _state_key(tgt)
    state = dict(store.get_state(key) or {})
    sent: dict[str, Any] = dict(state.get("rows") or {})
    report.skipped = [x for x in left if not x.get("key")]
    # a withdrawn label that was pushed stays remote: say so
    for x in left:
        if x.get("key") and x["key"] in sent:
            report.not_updated.append({**{k: v for k, v in x.items() if k != "key"},
                                       "reason": f"withdrawn in the notebook; still in {tgt.name} (delete it there)"})
    ix = SpanIndex(spans if spans is not None else pd.DataFrame(), tgt.source.format)
    todo: list[PushRow] = []
    report.rows = len(rows)
    for r in rows:
        try:
            r.ids = tgt.map_ids(r, ix)
        except Unmapped as e:
            report.unmapped.append({"origin": r.origin, "name": r.name, "trace_id": r.trace_id, "span_id": r.span_id,
                                    "reason": str(e)})
            continue
        prev = sent.get(r.key)
        h = r.content_hash()
        if prev and prev[0] == h:
            report.unchanged += 1
            continue
        if prev:
            r.ids["previous_remote_id"] = prev[1] if len(prev) > 1 else None
        r.ids["hash"] = h
        todo.append(r)
    # a dry run opens no connection (and needs no credentials)
    client: Any = _NoClient() if dry_run else tgt.client()
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"push {tgt.name}", unit=" rows", leave=False)

    pending: dict[str, list[Any]] = {}
    last_flush = [time.monotonic()]

    def flush() -> None:
        """Write what was sent to the store's state (under its writer lock)."""
        if not pending:
            return
        upd = dict(pending)
        pending.clear()

        def apply(cur: Any) -> Any:
            cur = dict(cur or {})
            cur["rows"] = {**(cur.get("rows") or {}), **upd}
            cur["last_push"] = iso(datetime.now(timezone.utc))
            return cur

        store.update_state(key, apply, default={})
        last_flush[0] = time.monotonic()

    def record(done: list[PushRow], remote: list[Any]) -> None:
        """Remember rows as sent; the state is written at most every ``RECORD_EVERY_S`` (and at
        the end, also after a failure), so a big push does not rewrite it per request."""
        if dry_run or not done:
            return
        for r, rid in zip(done, remote):
            pending[r.key] = [r.ids["hash"], rid]
            sent[r.key] = pending[r.key]
        if time.monotonic() - last_flush[0] >= RECORD_EVERY_S:
            flush()

    try:
        async with client:
            reqs = tgt.requests(todo, sent)

            async def one(req: tuple[list[PushRow], str, str, Any]) -> None:
                rs, method, path, body = req
                if dry_run:
                    report.planned.append({"method": method, "path": path, "body": body})
                    remote = [r.ids.get("remote_id") for r in rs]
                else:
                    try:
                        try:
                            answer = await client.request(method, path, json=body, what=f"{len(rs)} {tgt.name} rows",
                                                          hints=_WRITE_HINTS)
                        except PullError as e:  # the item exists (or is gone) remotely: the other verb
                            alt = tgt.fallback(req, str(e))
                            if alt is None:
                                raise
                            answer = await client.request(alt[1], alt[2], json=alt[3], what=f"{len(rs)} {tgt.name} rows",
                                                          hints=_WRITE_HINTS)
                    except PullError as e:
                        for r in rs:
                            report.failed.append({"name": r.name, "trace_id": r.trace_id, "span_id": r.span_id,
                                                  "error": scrub(str(e))})
                        if bar is not None:
                            bar.update(len(rs))
                        return
                    remote = tgt.remote_ids(rs, answer)
                for r in rs:
                    if "previous_remote_id" not in r.ids:
                        report.created += 1
                    elif tgt.can_update:
                        report.updated += 1
                    else:
                        report.appended_edits += 1
                        report.not_updated.append({"name": r.name, "trace_id": r.trace_id, "span_id": r.span_id,
                                                   "reason": tgt.update_note})
                record(rs, remote)
                if bar is not None:
                    bar.update(len(rs))

            # bounded concurrency is the client's; requests that touch the same remote item
            # never run together (one request per row key)
            await asyncio.gather(*[one(q) for q in reqs])
            if ds is not None:
                assert ds_name is not None
                items = _dataset_items(ds, ix, tgt)
                dstate = dict((state.get("datasets") or {}).get(ds_name) or {})
                await tgt.send_dataset(client, ds_name, items, dstate, report, dry_run)
                if not dry_run:
                    def apply_ds(cur: Any) -> Any:
                        cur = dict(cur or {})
                        cur["datasets"] = {**(cur.get("datasets") or {}), ds_name: dstate}
                        return cur

                    store.update_state(key, apply_ds, default={})
    except PullError as e:  # a dataset request, or the client itself
        report.error = scrub(str(e))
    finally:
        flush()
        if bar is not None:
            bar.close()
        report.requests = client.stats.requests
        report.retries = client.stats.retries
        report.rate_limited = client.stats.rate_limited
        report.seconds = time.perf_counter() - t0
    if report.failed and report.error is None:
        report.error = f"{len(report.failed)} rows failed: {report.failed[0]['error']}"
    report.complete = report.error is None
    log.info("%s", report)
    if not report.complete:
        err = PullError(
            f"push to {tgt.name} stopped: {report.sent} rows sent and recorded, {len(report.failed)} failed: "
            f"{report.error}. Push again to send only what is left."
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


class _NoClient:
    """What a dry run uses instead of an :class:`HttpClient`: sends nothing."""

    def __init__(self) -> None:
        from llmops_nb.connectors._http import HttpStats

        self.stats = HttpStats()

    async def __aenter__(self) -> _NoClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def request(self, *a: Any, **kw: Any) -> Any:  # pragma: no cover - a dry run never calls it
        raise AssertionError("a dry run sends nothing")


RECORD_EVERY_S = 0.5
"""How often a push writes what it sent to the store's state (and once at its end)."""

_WRITE_HINTS = {
    400: "the backend refused the body: see its message (a value type or name it does not accept)",
    401: "check the credentials (environment variables or credentials=)",
    403: "the credentials lack the write permission for this project",
    404: "check the host URL and the project; the trace may have been deleted in the backend",
    422: "the backend refused the body: see its message",
}


def _dataset_items(ds: pd.DataFrame, ix: SpanIndex, tgt: Target) -> list[dict[str, Any]]:
    """Examples as plain items: id, input, expected output, metadata, and the source trace and
    span ids in the target's own form (None when the example came from elsewhere)."""
    if "example_id" not in ds.columns:
        raise ValueError(
            f"dataset= has no 'example_id' column (columns: {list(ds.columns)[:12]}); pass an examples frame "
            "(lo.to_examples(...) or lo.datasets.load(name, as_='pandas'))"
        )
    out = []
    for r in ds.to_dict("records"):
        tid, sid = _s(r.get("source_trace_id")), _s(r.get("source_span_id"))
        linked: dict[str, Any] | None = None
        fmt = _s(r.get("source_format"))
        if tid is not None and (fmt is None or fmt == tgt.source.format):
            row = PushRow(key="", origin="example", name="", value=None, comment=None, annotator=None,
                          annotator_kind="CODE", trace_id=tid, span_id=sid)
            try:
                linked = tgt.map_ids(row, ix)
            except Unmapped:
                linked = None
        inputs: dict[str, Any] = {"input": _clean(r.get("input_text"))}
        if _clean(r.get("input_messages")) is not None:
            inputs["messages"] = _clean(r.get("input_messages"))
        outputs: dict[str, Any] = {}
        for c in ("expected_output", "output_text", "rubric"):
            if _clean(r.get(c)) is not None:
                outputs[c] = _clean(r.get(c))
        meta = {k: _clean(r.get(k)) for k in ("split", "tags", "failure_modes", "labels") if _clean(r.get(k)) not in (None, [], {})}
        md = _clean(r.get("metadata"))
        if isinstance(md, Mapping):
            meta["metadata"] = dict(md)
        meta["example_id"] = str(r["example_id"])
        item = {"example_id": str(r["example_id"]), "inputs": inputs, "outputs": outputs, "metadata": meta,
                "split": _s(r.get("split")), "link": linked}
        item["hash"] = hashlib.sha1(orjson.dumps([inputs, outputs, meta, linked], option=orjson.OPT_SORT_KEYS,
                                                 default=str)).hexdigest()[:16]
        out.append(item)
    return out
