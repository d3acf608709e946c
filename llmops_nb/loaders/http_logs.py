"""Recorded provider calls read as chat logs: VCR.py cassettes (YAML), HAR files (Polly.JS and
browsers), nock recordings (JSON lists) and bare OpenAI Responses stream events.

Each recorded HTTP exchange that is a call to a model provider becomes one ``llm`` span (an
``embedding`` span for OpenAI embeddings); other
exchanges (telemetry posts, auth, downloads) are not spans. One recording is one trace.
Providers and shapes read:

- OpenAI chat completions (JSON, and SSE streams whose usage sits in the last chunk),
  OpenAI Responses (JSON, and streams whose usage is in ``response.completed``);
- Anthropic messages (JSON, and SSE streams: input tokens from ``message_start``, output tokens
  from the last ``message_delta``, which is cumulative: never summed);
- Gemini / Vertex ``generateContent`` and ``streamGenerateContent`` (JSON, JSON arrays and SSE;
  usage from the last chunk that has counts; ``thoughtsTokenCount`` is added to the completion
  tokens, whose total already includes it);
- Bedrock ``converse`` (model from the URL path).

Bodies may be gzip, deflate or brotli encoded (``Content-Encoding``), YAML ``!!binary``,
base64, or Polly.JS lists of base64 chunks. A body that cannot be decoded (brotli without the
``brotli`` package: ``pip install "llmops-nb[recordings]"``) still gives the call from its
request, with ``llmops.body_undecoded`` set to the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from llmops_nb.loaders._common import (
    LoadError,
    NoTraceData,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    message,
    to_utc,
)
from llmops_nb.loaders._messages import normalize_messages

__all__ = ["is_http_log", "parse_http_log", "provider_call"]

_MAX_BODY = 256 * 1024 * 1024  # decompressed bytes read from one body


# ------------------------------------------------------------------------------ containers

def _is_cassette(doc: Any) -> bool:
    return isinstance(doc, Mapping) and isinstance(doc.get("interactions"), list) and all(
        isinstance(it, Mapping) and "request" in it for it in doc["interactions"][:3])


def _is_har(doc: Any) -> bool:
    log = as_map(doc).get("log") if isinstance(doc, Mapping) else None
    return isinstance(log, Mapping) and isinstance(log.get("entries"), list)


def _is_nock(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(
        isinstance(x, Mapping) and "scope" in x and "method" in x and "path" in x for x in doc[:3])


def _is_stream_events(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(
        isinstance(x, Mapping) and str(x.get("type", "")).startswith("response.") for x in doc[:3])


def is_http_log(doc: Any) -> bool:
    """Whether a parsed record is a recording of HTTP calls (cassette, HAR, nock) or a list of
    OpenAI Responses stream events."""
    return _is_cassette(doc) or _is_har(doc) or _is_nock(doc) or _is_stream_events(doc)


# ------------------------------------------------------------------------------ bodies

def _header(headers: Any, name: str) -> str | None:
    name = name.lower()
    if isinstance(headers, Mapping):
        for k, v in headers.items():
            if str(k).lower() == name:
                return str(v[0] if isinstance(v, list) and v else v)
    elif isinstance(headers, list):
        if headers and isinstance(headers[0], Mapping):
            for h in headers:
                if str(h.get("name", "")).lower() == name:
                    return str(h.get("value"))
        else:  # nock rawHeaders: [name, value, name, value, ...]
            for k, v in zip(headers[::2], headers[1::2]):
                if str(k).lower() == name:
                    return str(v)
    return None


class _Undecoded(bytes):
    """Body bytes that could not be decoded (the reason is in ``reason``)."""

    reason = ""


def _decompress(data: bytes, encoding: str | None) -> bytes:
    enc = (encoding or "").lower()
    if data[:2] == b"\x1f\x8b" or enc == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, _MAX_BODY)
        if d.unconsumed_tail:
            raise LoadError(f"a gzip body expands beyond {_MAX_BODY} bytes", expected="a body of sane size")
        return out
    if enc == "deflate":  # bounded like gzip (zlib or raw deflate, as servers send either)
        d = zlib.decompressobj(zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS)
        out = d.decompress(data, _MAX_BODY)
        if d.unconsumed_tail:
            raise LoadError(f"a deflate body expands beyond {_MAX_BODY} bytes", expected="a body of sane size")
        return out
    if enc == "br":
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError:
            u = _Undecoded(data)
            u.reason = 'brotli body: install brotli to read it (pip install "llmops-nb[recordings]")'
            return u
        return brotli.decompress(data)
    return data


def _body_bytes(raw: Any, encoding: str | None, b64: bool = False) -> bytes | None:
    """The body as bytes, from text, bytes, base64 or Polly.JS base64 chunk lists."""
    if raw is None:
        return None
    if isinstance(raw, Mapping) and "string" in raw:  # VCR: {string: ...}
        raw = raw["string"]
    if isinstance(raw, (bytes, bytearray)):
        data = bytes(raw)
    elif isinstance(raw, str):
        s = raw.strip()
        if s.startswith('["') and (b64 or encoding):  # Polly.JS: JSON list of base64 chunks
            try:
                chunks = orjson.loads(s)
                data = b"".join(base64.b64decode(c) for c in chunks)
            except (orjson.JSONDecodeError, binascii.Error, TypeError):
                data = raw.encode()
        elif b64:
            try:
                data = base64.b64decode(s)
            except binascii.Error:
                data = raw.encode()
        else:
            data = raw.encode()
            if data[:2] != b"\x1f\x8b":  # text as recorded (HAR text is decoded whatever Content-Encoding says)
                return data
    elif isinstance(raw, list) and raw and all(isinstance(c, str) for c in raw):  # nock hex chunks
        try:
            data = b"".join(bytes.fromhex(c) for c in raw)
        except ValueError:
            return orjson.dumps(raw)
    else:  # already parsed JSON
        return orjson.dumps(raw)
    return _decompress(data, encoding)


def _parse_body(raw: Any, headers: Any = None, b64: bool = False) -> Any:
    """A body as parsed JSON, a list of SSE / JSON-lines events, text, or an ``_Undecoded``."""
    if isinstance(raw, (Mapping, list)) and not (isinstance(raw, Mapping) and "string" in raw) and not (
            isinstance(raw, list) and raw and all(isinstance(c, str) for c in raw)):
        return raw
    data = _body_bytes(raw, _header(headers, "content-encoding"), b64)
    if data is None or isinstance(data, _Undecoded):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        u = _Undecoded(data)
        u.reason = "the body is not UTF-8 text"
        return u
    s = text.strip()
    if not s:
        return None
    if s[:1] in "{[":
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            pass
    if "data:" in s:
        events = []
        for line in s.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload and payload != "[DONE]":
                    try:
                        events.append(orjson.loads(payload))
                    except orjson.JSONDecodeError:
                        continue
        if events:
            return _Stream(events)
    return text


class _Stream(list):  # type: ignore[type-arg]
    """Events of a server-sent-events body."""


# ------------------------------------------------------------------------------ providers

def _provider_of(url: str, req: Any, resp: Any) -> str | None:
    path = urlsplit(url).path if url else ""
    r = as_map(req)
    first = resp[0] if isinstance(resp, list) and resp else resp
    f = as_map(first)
    if ":generateContent" in path or ":streamGenerateContent" in path or "candidates" in f or "contents" in r:
        return "gemini"
    if path.endswith(("/converse", "/converse-stream")) or ("/model/" in path and "bedrock" in url):
        return "bedrock"
    if path.endswith("/messages") or f.get("type") in ("message", "message_start"):
        return "anthropic"
    if path.endswith("/responses") or f.get("object") == "response" or str(f.get("type", "")).startswith("response."):
        return "openai_responses"
    if path.endswith("/embeddings") or f.get("object") == "list" and as_map((f.get("data") or [{}])[0]).get("object") == "embedding":
        return "openai_embeddings"
    if path.endswith(("/chat/completions", "/completions")) or f.get("object") in ("chat.completion", "chat.completion.chunk"):
        return "openai"
    return None


def _int(v: Any) -> int | None:
    try:
        return None if v is None or isinstance(v, bool) else int(v)
    except (TypeError, ValueError):
        return None


def _system_text(s: Any) -> str | None:
    if isinstance(s, str):
        return s
    if isinstance(s, list):
        parts = [str(p["text"]) for p in s if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        return "\n".join(parts) or None
    if isinstance(s, Mapping):
        return _system_text(s.get("parts")) or s.get("text")
    return None


def _input_messages(provider: str, req: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    msgs: list[dict[str, Any]] = []
    if provider == "openai_responses":
        if req.get("instructions"):
            msgs.append(message("system", req["instructions"]))
        inp = req.get("input")
        got = normalize_messages(inp, "input") if inp is not None else None
        return (msgs + (got or [])) or None
    if provider == "gemini":
        si = req.get("systemInstruction") or req.get("system_instruction")
        if si:
            msgs.append(message("system", _system_text(si)))
        got = normalize_messages({"contents": req.get("contents")}, "input") if req.get("contents") is not None else None
        return (msgs + (got or [])) or None
    sys_ = _system_text(req.get("system"))
    if sys_:
        msgs.append(message("system", sys_))
    got = normalize_messages(req.get("messages"), "input") if req.get("messages") is not None else None
    return (msgs + (got or [])) or None


def _openai_stream(events: list[Any]) -> tuple[dict[str, Any], Any]:
    """Reassemble chat completion chunks into one response; usage from the chunk that has it."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    model = rid = finish = None
    usage = None
    for ev in events:
        ev = as_map(ev)
        model = ev.get("model") or model
        rid = ev.get("id") or rid
        if ev.get("usage"):
            usage = ev["usage"]  # the last chunk's usage is the call's; never summed
        for ch in ev.get("choices") or []:
            d = as_map(as_map(ch).get("delta"))
            finish = ch.get("finish_reason") or finish
            if isinstance(d.get("content"), str):
                text.append(d["content"])
            for tc in d.get("tool_calls") or []:
                slot = calls.setdefault(int(tc.get("index", len(calls))), {"id": None, "name": None, "arguments": ""})
                fn = as_map(tc.get("function"))
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] = fn.get("name") or slot["name"]
                slot["arguments"] += fn.get("arguments") or ""
    msg = message("assistant", "".join(text) or None, [calls[k] for k in sorted(calls)] or None)
    return {"model": model, "id": rid, "finish_reason": finish, "messages": [msg]}, usage


def _anthropic_stream(events: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reassemble an Anthropic message stream; usage: message_start, then the last message_delta
    (its output_tokens is cumulative)."""
    blocks: dict[int, dict[str, Any]] = {}
    model = rid = stop = None
    usage: dict[str, Any] = {}
    for ev in events:
        ev = as_map(ev)
        t = ev.get("type")
        if t == "message_start":
            m = as_map(ev.get("message"))
            model, rid = m.get("model"), m.get("id")
            usage.update(as_map(m.get("usage")))
        elif t == "content_block_start":
            blocks[int(ev.get("index", len(blocks)))] = dict(as_map(ev.get("content_block")))
        elif t == "content_block_delta":
            b = blocks.setdefault(int(ev.get("index", 0)), {"type": "text", "text": ""})
            d = as_map(ev.get("delta"))
            if d.get("type") == "text_delta":
                b["text"] = (b.get("text") or "") + d.get("text", "")
            elif d.get("type") == "input_json_delta":
                b["_json"] = b.get("_json", "") + d.get("partial_json", "")
            elif d.get("type") == "thinking_delta":
                b["thinking"] = (b.get("thinking") or "") + d.get("thinking", "")
        elif t == "message_delta":
            stop = as_map(ev.get("delta")).get("stop_reason") or stop
            u = as_map(ev.get("usage"))
            usage.update({k: v for k, v in u.items() if v is not None})  # cumulative: replace, never add
    content = []
    for i in sorted(blocks):
        b = blocks[i]
        if "_json" in b:
            try:
                b["input"] = orjson.loads(b.pop("_json") or "{}")
            except orjson.JSONDecodeError:
                b["input"] = b.pop("_json", None)
        content.append(b)
    return {"type": "message", "role": "assistant", "model": model, "id": rid, "content": content,
            "stop_reason": stop}, usage


def _gemini_merge(chunks: list[Any]) -> dict[str, Any]:
    """Merge streamed Gemini chunks: parts concatenated, usage from the last chunk with counts."""
    parts: list[Any] = []
    usage: dict[str, Any] = {}
    model = rid = None
    for c in chunks:
        c = as_map(c)
        model = c.get("modelVersion") or c.get("model_version") or model
        rid = c.get("responseId") or rid
        for cand in c.get("candidates") or []:
            parts.extend(as_map(as_map(cand).get("content")).get("parts") or [])
        u = as_map(c.get("usageMetadata") or c.get("usage_metadata"))
        if any(k.endswith(("TokenCount", "_token_count")) for k in u):
            usage = dict(u)
    text = "".join(p.get("text", "") for p in parts if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                   and not p.get("thought"))
    merged: list[Any] = [{"text": text}] if text else []
    merged += [p for p in parts if isinstance(p, Mapping) and ("functionCall" in p or "function_call" in p)]
    return {"candidates": [{"content": {"role": "model", "parts": merged}}], "usageMetadata": usage,
            "modelVersion": model, "responseId": rid}


def _usage_row(provider: str, u: Mapping[str, Any]) -> tuple[int | None, int | None, int | None, dict[str, Any]]:
    """(prompt, completion, total, details) from a provider's usage object."""
    if not u:
        return None, None, None, {}
    if provider == "gemini":
        pt = _int(u.get("promptTokenCount", u.get("prompt_token_count")))
        cand = _int(u.get("candidatesTokenCount", u.get("candidates_token_count")))
        thoughts = _int(u.get("thoughtsTokenCount", u.get("thoughts_token_count")))
        tt = _int(u.get("totalTokenCount", u.get("total_token_count")))
        ct = None if cand is None and thoughts is None else (cand or 0) + (thoughts or 0)  # reasoning included
        details = {k: v for k, v in {"thoughts_tokens": thoughts, "cached_tokens": _int(
            u.get("cachedContentTokenCount", u.get("cached_content_token_count")))}.items() if v is not None}
        return pt, ct, tt, details
    if provider == "bedrock":
        details = {k: u[k] for k in ("cacheReadInputTokens", "cacheWriteInputTokens") if u.get(k) is not None}
        return _int(u.get("inputTokens")), _int(u.get("outputTokens")), _int(u.get("totalTokens")), details
    pt = _int(u.get("prompt_tokens", u.get("input_tokens")))
    ct = _int(u.get("completion_tokens", u.get("output_tokens")))
    tt = _int(u.get("total_tokens"))
    details = {k: u[k] for k in ("cache_creation_input_tokens", "cache_read_input_tokens") if u.get(k) is not None}
    for key in ("prompt_tokens_details", "input_tokens_details", "completion_tokens_details", "output_tokens_details"):
        if isinstance(u.get(key), Mapping):
            details.update({f"{key}.{k}": v for k, v in u[key].items() if v is not None})
    return pt, ct, tt, details


def provider_call(url: str, req_body: Any, resp_body: Any, status: Any = None) -> dict[str, Any] | None:
    """The span fields of one recorded provider call, or None when it is not a model call.

    Example:
        >>> r = provider_call("https://api.openai.com/v1/chat/completions",
        ...     {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        ...     {"object": "chat.completion", "model": "gpt-4o-2024-08-06",
        ...      "choices": [{"message": {"role": "assistant", "content": "hello"}}],
        ...      "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}})
        >>> r["model"], r["input_text"], r["output_text"], r["total_tokens"]
        ('gpt-4o-2024-08-06', 'hi', 'hello', 10)
    """
    req = req_body if isinstance(req_body, Mapping) else {}
    provider = _provider_of(url, req, resp_body)
    if provider is None:
        return None
    undecoded = isinstance(resp_body, _Undecoded)
    resp: Any = None if undecoded or isinstance(resp_body, str) else resp_body
    attrs: dict[str, Any] = {"http.url": url}
    if undecoded:
        attrs["llmops.body_undecoded"] = resp_body.reason  # type: ignore[union-attr]
    usage: Any = None
    out_msgs = None
    model = None
    rid = None
    if provider == "openai":
        if isinstance(resp, list):
            merged, usage = _openai_stream(resp)
            out_msgs, model, rid = merged["messages"], merged["model"], merged["id"]
        elif isinstance(resp, Mapping):
            usage, model, rid = resp.get("usage"), resp.get("model"), resp.get("id")
            out_msgs = normalize_messages(resp, "output") if resp.get("choices") else None
    elif provider == "openai_embeddings":
        if isinstance(resp, Mapping):
            usage, model = resp.get("usage"), resp.get("model")
            attrs["embedding.count"] = len(resp.get("data") or [])
    elif provider == "openai_responses":
        if isinstance(resp, list):
            done = [e for e in resp if isinstance(e, Mapping) and e.get("type") in (
                "response.completed", "response.incomplete", "response.failed")]
            started = [e for e in resp if isinstance(e, Mapping) and isinstance(e.get("response"), Mapping)]
            resp = as_map((done or started or [{}])[-1].get("response"))
        if isinstance(resp, Mapping):
            usage, model, rid = resp.get("usage"), resp.get("model"), resp.get("id")
            out_msgs = normalize_messages({"object": "response", "output": resp.get("output") or []}, "output")
            if isinstance(resp.get("error"), Mapping):
                attrs["error"] = resp["error"]
    elif provider == "anthropic":
        if isinstance(resp, list):
            resp, usage = _anthropic_stream(resp)
        elif isinstance(resp, Mapping):
            usage = resp.get("usage")
        if isinstance(resp, Mapping):
            model, rid = resp.get("model"), resp.get("id")
            if resp.get("type") == "message":
                out_msgs = normalize_messages({k: v for k, v in resp.items() if k in ("role", "content")}, "output")
    elif provider == "gemini":
        if isinstance(resp, list):
            resp = _gemini_merge(resp)
        if isinstance(resp, Mapping):
            usage = resp.get("usageMetadata") or resp.get("usage_metadata")
            model, rid = resp.get("modelVersion") or resp.get("model_version"), resp.get("responseId")
            out_msgs = normalize_messages(resp, "output") if resp.get("candidates") else None
    elif provider == "bedrock" and isinstance(resp, Mapping):
        usage = resp.get("usage")
        msg = as_map(as_map(resp.get("output")).get("message"))
        out_msgs = normalize_messages(msg, "output") if msg else None
        if resp.get("stopReason"):
            attrs["stop_reason"] = resp["stopReason"]
    if model is None:
        model = req.get("model") or req.get("modelId")
    if model is None and provider in ("gemini", "bedrock"):
        path = unquote(urlsplit(url).path)
        if "/models/" in path:
            model = path.split("/models/", 1)[1].split(":", 1)[0].split("/", 1)[0]
        elif "/model/" in path:
            model = path.split("/model/", 1)[1].split("/", 1)[0]
    if req.get("model") and req.get("model") != model:
        attrs["request_model"] = req["model"]
    pt, ct, tt, details = _usage_row(provider, as_map(usage))
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    attrs.update({f"usage.{k}": v for k, v in details.items()})
    in_msgs = _input_messages(provider, req) if provider != "openai_embeddings" else None
    code = _int(as_map(status).get("code") if isinstance(status, Mapping) else status)
    err = None
    if code is not None and code >= 400:
        e = as_map(resp).get("error") if isinstance(resp, Mapping) else None
        err = (as_map(e).get("message") if isinstance(e, Mapping) else None) or f"HTTP {code}"
    if code is not None:
        attrs["http.status_code"] = code
    if rid:
        attrs["response_id"] = rid
    for k in ("temperature", "max_tokens", "max_output_tokens", "tools", "tool_choice", "stream", "reasoning"):
        if req.get(k) is not None:
            attrs[f"request.{k}"] = req[k]
    return {
        "name": f"{provider} {urlsplit(url).path.rsplit('/', 1)[-1] if url else 'call'}",
        "kind": "embedding" if provider == "openai_embeddings" else "llm",
        "input_text": last_user_text(in_msgs) if provider != "openai_embeddings" else json_text(req.get("input")),
        "status": "error" if err else ("ok" if resp is not None or undecoded else "unset"),
        "error_message": err,
        "model": None if model is None else str(model),
        "provider": {"openai_responses": "openai", "openai_embeddings": "openai"}.get(provider, provider),
        "input_messages": in_msgs,
        "output_messages": out_msgs,
        "output_text": assistant_text(out_msgs),
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "total_tokens": tt,
        "attributes": attrs,
    }


# ------------------------------------------------------------------------------ exchanges

def _exchanges(doc: Any) -> Iterator[dict[str, Any]]:
    """(url, method, request body, response body, status, start, duration ms) per recorded call."""
    if _is_cassette(doc):
        for it in doc["interactions"]:
            req, resp = as_map(it.get("request")), as_map(it.get("response"))
            yield {"url": str(req.get("uri") or req.get("url") or ""), "method": req.get("method"),
                   "req": _parse_body(req.get("body"), req.get("headers")),
                   "resp": _parse_body(resp.get("body"), resp.get("headers")),
                   "status": resp.get("status"), "start": None, "ms": None}
    elif _is_har(doc):
        for e in doc["log"]["entries"]:
            req, resp = as_map(e.get("request")), as_map(e.get("response"))
            content = as_map(resp.get("content"))
            post = as_map(req.get("postData"))
            yield {"url": str(req.get("url") or ""), "method": req.get("method"),
                   "req": _parse_body(post.get("text"), req.get("headers")),
                   "resp": _parse_body(content.get("text"), resp.get("headers"), content.get("encoding") == "base64"),
                   "status": resp.get("status"), "start": e.get("startedDateTime"), "ms": e.get("time")}
    elif _is_nock(doc):
        for x in doc:
            resp = x.get("response")
            headers = x.get("rawHeaders")
            yield {"url": f"{x.get('scope', '')}{x.get('path', '')}", "method": x.get("method"),
                   "req": _parse_body(x.get("body")), "resp": _parse_body(resp, headers) if not isinstance(resp, Mapping) else resp,
                   "status": x.get("status"), "start": None, "ms": None}
    elif _is_stream_events(doc):
        yield {"url": "", "method": None, "req": {}, "resp": list(doc), "status": None, "start": None, "ms": None}


def _describe(ex: Mapping[str, Any]) -> str:
    return f"{ex.get('method') or ''} {ex.get('url') or '<no url>'}".strip()


def parse_http_log(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows (one ``llm`` span per provider call) from a recording of HTTP calls.

    Example:
        >>> cassette = {"interactions": [{"request": {"method": "POST",
        ...     "uri": "https://api.anthropic.com/v1/messages", "body": '{"model": "claude-3-5-haiku",'
        ...     ' "messages": [{"role": "user", "content": "hi"}]}'}, "response": {"status": {"code": 200},
        ...     "body": {"string": '{"type": "message", "role": "assistant", "model": "claude-3-5-haiku",'
        ...     ' "content": [{"type": "text", "text": "hello"}], "usage": {"input_tokens": 8, "output_tokens": 2}}'}}}]}
        >>> [(r["kind"], r["model"], r["output_text"], r["total_tokens"]) for r in parse_http_log(cassette)]
        [('llm', 'claude-3-5-haiku', 'hello', 10)]
    """
    exchanges = list(_exchanges(doc))
    if not exchanges and not is_http_log(doc):
        raise LoadError("not a recording of HTTP calls", expected="a VCR cassette, a HAR file or a nock recording")
    digest = hashlib.sha1(orjson.dumps([(_describe(x), json_text(x["req"])) for x in exchanges], default=str)).hexdigest()
    trace_id = digest[:32]
    session = as_map(as_map(doc).get("log")).get("_recordingName") if _is_har(doc) else None
    rows = []
    skipped = []
    for i, ex in enumerate(exchanges):
        call = provider_call(ex["url"], ex["req"], ex["resp"], ex["status"])
        if call is None:
            skipped.append(_describe(ex))
            continue
        start = to_utc(ex["start"]) if ex["start"] else None
        end = start + timedelta(milliseconds=float(ex["ms"])) if start is not None and ex["ms"] is not None else None
        call["attributes"]["http.method"] = ex.get("method")
        rows.append({
            "trace_id": trace_id,
            "span_id": hashlib.sha1(f"{digest}:{i}".encode()).hexdigest()[:16],
            "parent_span_id": None,
            "start_time": start,
            "end_time": end,
            "session_id": session,
            "source_format": "http_log",
            **call,
        })
    if not rows:
        calls = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        from llmops_nb.loaders._evaluations import _payloads

        if any(True for _ in _payloads(doc)):
            raise NoTraceData(f"{len(exchanges)} recorded HTTP call(s) ({calls}) that carry evaluation payloads, "
                              "not spans: read them with lo.read_evaluations(path)",
                              expected="spans; evaluations are read by lo.read_evaluations")
        raise NoTraceData(f"{len(exchanges)} recorded HTTP call(s), none of them a model provider call or a trace "
                        f"payload ({calls or 'no calls'})",
                        expected="calls to OpenAI, Anthropic, Gemini/Vertex or Bedrock, or a trace export")
    yield from rows
