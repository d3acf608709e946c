"""The annotation widget (anywidget on ipywidgets 8): a keyboard-first view over a Session."""

from __future__ import annotations

import os
import traceback
from typing import Any

import pandas as pd

from llmops_nb.annotation._assets import asset_path, asset_text
from llmops_nb.annotation._schema import as_schema
from llmops_nb.annotation._session import Session

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
) -> Any:
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

    Keys: 1-9/0 choose for the active question (arrow up/down change question), Enter submits,
    ``s`` skips, ``f`` flags, Backspace undoes the last labelled item, arrow left/right move
    through earlier items (edits are recorded with the previous value), ``n`` writes a note.
    Each decision is appended to the store before the next item shows; re-running resumes.

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
