"""The state shared by captures and spans: which capture is active, and the session / user /
tags / metadata that outer contexts pass down to the spans inside them (contextvars, so each
asyncio task and thread sees its own)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._otel import json_value

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture

__all__ = ["attributes", "current_capture", "SpanAttrs"]


@dataclass(frozen=True)
class SpanAttrs:
    """Session, user, tags and metadata that apply to every span opened inside a context."""

    session_id: str | None = None
    user_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, session_id: Any = None, user_id: Any = None, tags: Sequence[str] | None = None,
               metadata: Mapping[str, Any] | None = None) -> SpanAttrs:
        """These attributes overridden by the given ones (tags are added, metadata merged)."""
        new_tags = tuple(dict.fromkeys([*self.tags, *(tags or ())]))
        return SpanAttrs(
            session_id=str(session_id) if session_id is not None else self.session_id,
            user_id=str(user_id) if user_id is not None else self.user_id,
            tags=new_tags,
            metadata={**self.metadata, **(metadata or {})},
        )

    def otel(self) -> dict[str, Any]:
        """As OpenInference span attributes."""
        out: dict[str, Any] = {}
        if self.session_id is not None:
            out["session.id"] = self.session_id
        if self.user_id is not None:
            out["user.id"] = self.user_id
        if self.tags:
            out["tag.tags"] = list(self.tags)
        if self.metadata:
            out["metadata"] = json_value(dict(self.metadata))
        return out


_ATTRS: contextvars.ContextVar[SpanAttrs | None] = contextvars.ContextVar("llmops_nb_span_attrs", default=None)
_CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("llmops_nb_capture", default=None)
_STACK: list[Capture] = []  # captures started, innermost last (start()/stop() in notebooks)
_STACK_LOCK = threading.RLock()
# set while a litellm call is being recorded: nested litellm calls (``acompletion`` runs
# ``completion`` in a thread) and litellm's callback for the same call record nothing again
IN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("llmops_nb_in_llm_call", default=False)


def current_capture() -> Capture | None:
    """The capture recording here: the one entered in this context, else the last started."""
    cap = _CAPTURE.get()
    if cap is not None and cap.active:
        return cap
    with _STACK_LOCK:
        return _STACK[-1] if _STACK else None


def current_attrs(cap: Capture | None = None) -> SpanAttrs:
    """Attributes passed down by the capture and the outer spans or ``attributes()`` blocks."""
    cap = cap if cap is not None else current_capture()
    base = cap._defaults if cap is not None else SpanAttrs()
    a = _ATTRS.get()
    if a is None:
        return base
    return base.merged(a.session_id, a.user_id, a.tags, a.metadata)


@contextlib.contextmanager
def attributes(*, session_id: str | None = None, user_id: str | None = None,
               tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None) -> Iterator[SpanAttrs]:
    """Attach a session, a user, tags or metadata to every span (and LLM call) opened inside.

    Works across ``await`` and stays inside its asyncio task.

    Example:
        >>> import llmops_nb.tracing as cap
        >>> with cap.attributes(session_id="chat-42", user_id="u1") as a:
        ...     a.session_id
        'chat-42'
    """
    new = current_attrs().merged(session_id, user_id, tags, metadata)
    token = _ATTRS.set(new)
    try:
        yield new
    finally:
        _ATTRS.reset(token)
