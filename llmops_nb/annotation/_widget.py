"""The annotation widget (anywidget on ipywidgets 8): a keyboard-first view over a Session."""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING, Any

import pandas as pd

from llmops_nb.annotation._assets import asset_path, asset_text
from llmops_nb.annotation._schema import as_schema
from llmops_nb.annotation._session import Session

if TYPE_CHECKING:  # pragma: no cover
    import anywidget

__all__ = ["annotate", "AnnotationWidget"]

_widget_cls: Any = None


def _widget_class() -> Any:
    global _widget_cls
    if _widget_cls is not None:
        return _widget_cls
    import anywidget
    import traitlets

    class AnnotationWidget(anywidget.AnyWidget):
        """The annotation queue widget; see :func:`llmops_nb.annotate`."""

        _esm = asset_path("annotate.js")
        _css = asset_path("annotate.css")
        schema = traitlets.Dict().tag(sync=True)
        item = traitlets.Dict().tag(sync=True)
        trace_css = traitlets.Unicode("").tag(sync=True)

        def __init__(self, session: Session, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._flush_handle: Any = None
            self.session = session
            self.trace_css = asset_text("trace_view.css")
            self.schema = session.schema.to_dict()
            self.item = session.payload()
            self.on_msg(self._on_msg)

        def _on_msg(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
            kind = content.get("type")
            seq = int(content.get("seq") or 0)
            s = self.session
            if kind == "ping":  # the view asks whether a kernel is listening
                self.send({"type": "pong", "ack": seq})
                return
            message = ""
            try:
                iid = str(content.get("item_id"))
                if kind == "submit":
                    s.submit(iid, content.get("answers") or {}, reason=content.get("reason"))
                    message = "saved"
                elif kind == "skip":
                    s.skip(iid)
                    message = "skipped"
                elif kind == "flag":
                    s.flag(iid)
                    message = "flag saved"
                elif kind == "undo":
                    message = "undone" if s.undo() is not None else "nothing to undo"
                elif kind == "back":
                    s.back()
                elif kind == "forward":
                    s.forward()
                elif kind == "refresh":
                    pass
                else:
                    message = f"unknown message {kind!r}"
            except (ValueError, KeyError) as e:
                message = f"error: {e}"
            except Exception as e:  # noqa: BLE001  the widget must keep answering
                message = f"error: {type(e).__name__}: {e}"
                if os.environ.get("LLMOPS_NB_DEBUG"):
                    traceback.print_exc()
            self.item = s.payload(ack=seq, message=message)
            if self.item.get("mode") == "empty":
                s.flush()
            else:
                self._schedule_flush()

        def _schedule_flush(self, idle_s: float = 5.0) -> None:
            """Move the session log into the labels table once the annotator pauses."""
            import asyncio

            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush_handle = loop.call_later(idle_s, self.flush)

        def flush(self) -> int:
            """Move the decisions logged by this session into the store's labels table now."""
            self._flush_handle = None
            return self.session.flush()

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            # the live view, plus a static snapshot (the item on screen and the questions) that
            # exported notebooks and reports show where no kernel runs the widget
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget: (data, metadata)
            if isinstance(data, dict):
                data["text/html"] = snapshot_html(self.session)
            return bundle

        def labels(self, **kw: Any) -> pd.DataFrame:
            """The labels of this store (see :func:`llmops_nb.labels`)."""
            from llmops_nb.annotation._labels import labels

            return labels(self.session.store, **kw)

        def __repr__(self) -> str:
            p = self.session.progress()
            return (f"AnnotationWidget(annotator={p['annotator']!r}, queue={p['queue']!r}, done={p['done']}, "
                    f"skipped={p['skipped']}, flagged={p['flagged']}, left={p['left']})")

    _widget_cls = AnnotationWidget
    return _widget_cls


def snapshot_html(session: Session) -> str:
    """The widget as static HTML (no script): progress, the item on screen through the trace
    viewer, and the questions with their keys. Exported notebooks and reports show it."""
    from llmops_nb.annotation._html import esc

    it = session.payload()
    p = it["progress"]
    parts = [f"done {p['done']}", f"skipped {p['skipped']}", f"flagged {p['flagged']}"]
    if p.get("by_others"):
        parts.append(f"by others {p['by_others']}")
    parts.append(f"left {p['left']}")
    pct = 100.0 * (p["total"] - p["left"]) / p["total"] if p["total"] else 0.0
    top = "".join(f"<span class='lo-prog'>{esc(x)}</span>" for x in parts) + (
        f"<span class='lo-bar-outer'><span class='lo-bar-inner' style='width:{pct:.1f}%'></span></span>"
        f"<span class='lo-who'>{esc(' · '.join(x for x in (p['annotator'], p['queue']) if x))}</span>")
    qs = []
    for q in session.schema.questions:
        d = q.to_dict()
        ans = it["answers"].get(q.name)
        if q.kind == "text":
            body = f"<div class='lo-note-static'>{esc(ans or '')}</div>"
        else:
            chosen = ans if isinstance(ans, list) else [ans]
            body = "<div class='lo-opts'>" + "".join(
                f"<span class='lo-opt-btn{' lo-on' if ans is not None and v in chosen else ''}'><kbd>{esc(k)}</kbd> {esc(lab)}</span>"
                for v, k, lab in zip(d["options"], d["keys"], d["labels"])) + "</div>"
        req = " <span class='lo-req'>(required)</span>" if q.required else ""
        qs.append(f"<div class='lo-q'><div class='lo-q-name'>{esc(q.prompt or q.name)}{req}</div>{body}</div>")
    note = ("<div class='lo-hint'>A static snapshot of the annotation widget: run the notebook to label "
            "(keys 1-9 answer, Enter submits, s skips, f flags).</div>")
    return (f"<style>{asset_text('annotate.css')}\n{asset_text('trace_view.css')}</style>"
            f"<div class='lo-ann lo-ann-snapshot' data-item-id='{esc(it['item_id'] or '')}'>"
            f"<div class='lo-ann-top'>{top}</div><div class='lo-ann-body'><div class='lo-ann-item'>{it['html']}</div>"
            f"<div class='lo-ann-panel'>{''.join(qs)}{note}</div></div></div>")


def AnnotationWidget(session: Session) -> Any:  # noqa: N802  the class is built lazily
    """Build the widget over a :class:`Session` (anywidget is imported on first use)."""
    return _widget_class()(session)


def annotate(
    frame: pd.DataFrame,
    schema: Any = None,
    store: Any = None,
    annotator: str | None = None,
    *,
    queue: str = "random",
    by: str | None = None,
    overlap: int = 1,
    lease_s: float = 600.0,
    seed: int = 0,
    level: str | None = None,
    spans: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
    queue_name: str | None = None,
) -> anywidget.AnyWidget:
    """Label items in the notebook with the keyboard; returns a widget.

    ``frame``: the items (a traces frame, a spans frame, a frame of slice or cluster members, any
    frame with ``trace_id`` or ``item_id``); one item per trace unless ``level="span"``, or one
    per conversation with ``level="session"`` (pass the sessions table, ``lo.to_sessions(spans)``,
    and ``spans=``: each item shows as a chat whose turns open into their traces; labels carry
    ``session_id``; a ``turn`` question picks the turn that went wrong).
    ``schema``: the questions (see :func:`~llmops_nb.annotation.as_schema`): pass/fail, categorical
    (single or ``multi``), ordinal 1-5 with a rubric, free text. ``store``: where labels are
    appended (default ``lo.Store()``); ``annotator``: your name (default ``$USER``).
    ``queue``: ``random``, ``stratified`` (``by`` a column), ``cluster`` (``by`` the cluster
    column), ``uncertainty`` (``by`` a judge score in [0, 1]), ``disagreement`` (``by`` the judge
    verdict column; items where it differs from the human label), ``sequential``.
    ``overlap``: how many annotators label each item (2+ for agreement); ``lease_s``: how long an
    item stays reserved for the annotator who has it open.

    Questions are optional unless declared ``required=True`` (an item needs at least one answer);
    ``by=`` names a column or a metadata key (``"category"`` or ``"metadata.category"``).
    Progress is per queue (``queue_name``) and schema: items I answered for other questions or
    skipped in another queue are still to do here.

    Keys: 1-9/0 choose for the active question (arrow up/down change question), Enter submits,
    ``s`` skips (not labelled, not shown again in this queue), ``f`` flags for a second look and
    moves on (``lo.labels(store, question="flag")`` lists flags; ``f`` again unflags), Backspace
    undoes the last labelled item, arrow left/right move through earlier items (edits are
    recorded with the previous value), ``n`` writes a note, ``j``/``k`` move between the spans of
    the trace and ``o`` opens or closes one. Each decision is appended to the store before the
    next item shows; re-running resumes. A widget whose kernel restarted or died says so and
    stops accepting input: re-run the cell to resume.

    Example:
        >>> import llmops_nb as lo, tempfile, pandas as pd
        >>> frame = pd.DataFrame({"trace_id": ["a", "b"], "input_text": ["q1", "q2"]})
        >>> w = lo.annotate(frame, {"correct": "pass_fail"}, lo.Store(tempfile.mkdtemp()), "alice")
        >>> w.session.submit(w.session.current, {"correct": True}); w.session.progress()["done"]
        1
    """
    from llmops_nb.store import Store

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, not {type(frame).__name__}")
    if store is None:
        store = Store()
    elif isinstance(store, (str, os.PathLike)):
        store = Store(store)
    annotator = annotator or os.environ.get("LLMOPS_NB_ANNOTATOR") or os.environ.get("USER") or "anonymous"
    session = Session(frame, schema=as_schema(schema), store=store, annotator=annotator, queue=queue, by=by,
                      overlap=overlap, lease_s=lease_s, seed=seed, level=level, spans=spans, results=results,
                      queue_name=queue_name)
    return AnnotationWidget(session)
