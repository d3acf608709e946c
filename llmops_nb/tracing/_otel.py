"""OpenTelemetry glue: the conversion of
an SDK ``ReadableSpan`` into the flat record :func:`llmops_nb.loaders.otlp.map_span` takes, and
helpers that write OpenInference attributes (messages, documents, JSON values).

The OTel SDK is imported only inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

__all__ = ["readable_to_record", "spans_to_rows", "rows_to_arrow", "finish_row"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TEXT = 1_000_000  # characters kept of one attribute value
_SECRET_WORDS = ("key", "secret", "password", "credential", "header", "auth", "token")
_SAFE_PARAMS = {"max_tokens", "max_completion_tokens", "max_output_tokens", "top_logprobs", "logprobs"}
_SKIP_PARAMS = {
    "messages", "model", "input", "tools", "functions", "stream_options", "api_base", "base_url",
    "litellm_logging_obj", "client", "metadata", "litellm_call_id", "litellm_metadata",
    "mock_response", "acompletion", "aembedding", "custom_llm_provider", "user",
}


def _ns_time(ns: int | None) -> datetime | None:
    if not ns:
        return None
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def _plain(v: Any) -> Any:
    """OTel attribute values (tuples from BoundedAttributes) as plain Python values."""
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def readable_to_record(span: Any) -> dict[str, Any]:
    """The flat record of one finished SDK span, in the shape ``iter_otlp_json`` yields.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> sp = TracerProvider().get_tracer("t").start_span("step"); sp.end()
        >>> readable_to_record(sp)["name"]
        'step'
    """
    ctx = span.context
    parent = span.parent
    code = getattr(getattr(span.status, "status_code", None), "name", "UNSET")
    status = {"ERROR": "error", "OK": "ok"}.get(code, "unset")
    kind = getattr(span.kind, "name", "INTERNAL")
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "start_time": _ns_time(span.start_time),
        "end_time": _ns_time(span.end_time),
        "status": status,
        "status_message": span.status.description or None,
        "otel_kind": f"SPAN_KIND_{kind}",
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {"name": e.name, "time": _ns_time(e.timestamp), "attributes": {k: _plain(v) for k, v in (e.attributes or {}).items()}}
            for e in span.events
        ],
        "resource": {k: _plain(v) for k, v in (span.resource.attributes or {}).items()} if span.resource else {},
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }


def finish_row(r: dict[str, Any]) -> dict[str, Any]:
    """Fill the derived fields of a mapped row (latency) and keep kind and status valid."""
    from llmops_nb.schema import SPAN_KINDS, SPAN_STATUSES

    if r.get("kind") not in SPAN_KINDS:
        r["kind"] = "unknown"
    if r.get("status") not in SPAN_STATUSES:
        r["status"] = "unset"
    if r.get("latency_ms") is None and r.get("start_time") is not None and r.get("end_time") is not None:
        r["latency_ms"] = (r["end_time"] - r["start_time"]).total_seconds() * 1000.0
    return r


def rows_to_arrow(rows: list[dict[str, Any]]) -> Any:
    """Spans rows as an Arrow table with the declared schema (the store's write format)."""
    import pandas as pd

    from llmops_nb.schema import SPANS, to_arrow

    return to_arrow(pd.DataFrame.from_records(rows), SPANS)


def spans_to_rows(spans: Iterable[Any], source_format: str = "capture") -> list[dict[str, Any]]:
    """Spans-table rows (through :func:`map_span`, the one mapping) from finished SDK spans."""
    from llmops_nb.loaders.otlp import map_span

    return [finish_row(map_span(readable_to_record(s), source_format)) for s in spans]


# ------------------------------------------------------------------ attribute helpers

def _default(o: Any) -> Any:
    if hasattr(o, "model_dump"):
        try:
            return o.model_dump()
        except Exception:
            pass
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict") and type(o).__name__ not in ("DataFrame",):
        try:
            return o.to_dict()
        except Exception:
            pass
    if type(o).__name__ == "DataFrame":
        return f"<DataFrame {getattr(o, 'shape', '')}>"
    if hasattr(o, "tolist"):
        try:
            return o.tolist()
        except Exception:
            pass
    return repr(o)


def clip(text: str) -> str:
    """Text cut to the attribute size limit, with a marker saying how much was cut."""
    if len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"...[{len(text) - _MAX_TEXT} chars cut by llmops_nb]"


def json_value(v: Any) -> str:
    """Any value as JSON text (strings stay text), for ``input.value`` and friends."""
    if isinstance(v, str):
        return clip(v)
    try:
        return clip(orjson.dumps(v, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode())
    except Exception:
        return clip(repr(v))


def as_dict(obj: Any) -> dict[str, Any]:
    """A message, tool call or response object (dict, pydantic, litellm object) as a dict."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    for meth in ("model_dump", "dict", "to_dict"):
        f = getattr(obj, meth, None)
        if callable(f):
            try:
                d = f()
                if isinstance(d, Mapping):
                    return dict(d)
            except Exception:
                pass
    return dict(getattr(obj, "__dict__", {}))


def _short_url(url: Any) -> str:
    s = str(url)
    if s.startswith("data:") and len(s) > 80:
        return s[:64] + f"...[{len(s)} chars]"
    return s


def message_attributes(prefix: str, messages: Iterable[Any]) -> dict[str, Any]:
    """OpenInference attributes ``{prefix}.N.message.*`` for chat messages (with tool calls).

    Example:
        >>> message_attributes("llm.input_messages", [{"role": "user", "content": "hi"}])
        {'llm.input_messages.0.message.role': 'user', 'llm.input_messages.0.message.content': 'hi'}
    """
    out: dict[str, Any] = {}
    for i, m in enumerate(messages or []):
        d = as_dict(m)
        p = f"{prefix}.{i}.message"
        if d.get("role") is not None:
            out[f"{p}.role"] = str(d["role"])
        content = d.get("content")
        if isinstance(content, str):
            out[f"{p}.content"] = clip(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                pd_ = as_dict(part) if not isinstance(part, str) else {"type": "text", "text": part}
                cp = f"{p}.contents.{j}.message_content"
                ptype = pd_.get("type") or "text"
                out[f"{cp}.type"] = "image" if ptype == "image_url" else str(ptype)
                if pd_.get("text") is not None:
                    out[f"{cp}.text"] = clip(str(pd_["text"]))
                elif ptype == "image_url":
                    url = pd_.get("image_url")
                    url = url.get("url") if isinstance(url, Mapping) else url
                    out[f"{cp}.image.image.url"] = _short_url(url)
        elif content is not None:
            out[f"{p}.content"] = json_value(content)
        if d.get("name"):
            out[f"{p}.name"] = str(d["name"])
        if d.get("tool_call_id"):
            out[f"{p}.tool_call_id"] = str(d["tool_call_id"])
        for k, tc in enumerate(d.get("tool_calls") or []):
            t = as_dict(tc)
            fn = as_dict(t.get("function"))
            tp = f"{p}.tool_calls.{k}.tool_call"
            if t.get("id"):
                out[f"{tp}.id"] = str(t["id"])
            if fn.get("name"):
                out[f"{tp}.function.name"] = str(fn["name"])
            args = fn.get("arguments")
            if args is not None:
                out[f"{tp}.function.arguments"] = args if isinstance(args, str) else json_value(args)
    return out


def document_attributes(docs: Iterable[Any], prefix: str = "retrieval.documents") -> dict[str, Any]:
    """OpenInference ``retrieval.documents.N.document.*`` attributes.

    A document is a string, a dict with ``id``/``content`` (or ``text``/``page_content``)/
    ``score``/``metadata``, or an object with those attributes (LangChain / LlamaIndex style).

    Example:
        >>> document_attributes(["refunds take 5 days"])
        {'retrieval.documents.0.document.content': 'refunds take 5 days'}
    """
    out: dict[str, Any] = {}
    for i, doc in enumerate(docs or []):
        if isinstance(doc, str):
            d: dict[str, Any] = {"content": doc}
        elif isinstance(doc, Mapping):
            d = dict(doc)
        else:
            d = {k: getattr(doc, k) for k in ("id", "content", "text", "page_content", "score", "metadata") if hasattr(doc, k)}
            if not d:
                d = as_dict(doc) or {"content": str(doc)}
        p = f"{prefix}.{i}.document"
        did = d.get("id", d.get("doc_id", d.get("document_id")))
        if did is not None:
            out[f"{p}.id"] = str(did)
        content = d.get("content", d.get("text", d.get("page_content")))
        if content is not None:
            out[f"{p}.content"] = clip(content) if isinstance(content, str) else json_value(content)
        score = d.get("score")
        if score is not None:
            with contextlib.suppress(TypeError, ValueError):
                out[f"{p}.score"] = float(score)
        if d.get("metadata"):
            out[f"{p}.metadata"] = json_value(d["metadata"])
    return out


def invocation_parameters(kwargs: Mapping[str, Any]) -> str | None:
    """The call's model parameters (temperature, max_tokens, ...) as JSON, without secrets."""
    params: dict[str, Any] = {}
    for k, v in kwargs.items():
        low = k.lower()
        if k in _SKIP_PARAMS or v is None or callable(v):
            continue
        if low not in _SAFE_PARAMS and any(w in low for w in _SECRET_WORDS):
            continue
        if isinstance(v, (str, int, float, bool, list, dict)):
            params[k] = v
        elif hasattr(v, "model_json_schema"):  # a pydantic response_format
            params[k] = getattr(v, "__name__", repr(v))
    if not params:
        return None
    return json_value(params)
