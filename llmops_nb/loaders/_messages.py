"""Normalise chat messages from the provider and framework shapes found in trace exports.

One function, :func:`normalize_messages`, turns any of these into canonical messages
(``role, content, tool_calls [{id, name, arguments}], tool_call_id``):

- OpenAI chat (``role/content/tool_calls/tool_call_id``), chat completion responses
  (``choices[].message``), Responses API input items (``function_call``,
  ``function_call_output``) and response objects (``output[]``);
- OpenTelemetry gen_ai parts (``role/parts[]``);
- Anthropic content blocks (``text``, ``tool_use``, ``tool_result``);
- Gemini ``contents``/``parts`` (``text``, ``functionCall``, ``functionResponse``) and
  ``candidates[].content``;
- LangChain messages (``type: human/ai/system/tool``, ``additional_kwargs.tool_calls``),
  also serialised (``{"lc": 1, "kwargs": {...}}``);
- Vercel AI SDK parts (``tool-call``, ``tool-result``);
- wrappers: ``{"messages": [...]}``, ``{"prompt": ..., "system": ...}``, ``{"contents": ...}``,
  a bare string.

Example:
    >>> normalize_messages([{"type": "human", "content": "hi"}])[0]["role"]
    'user'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmops_nb.loaders._common import as_map, json_text, message

__all__ = ["normalize_messages", "maybe_json"]

_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "function": "tool",
    "developer": "system",
    "chat": "user",
    "generic": "user",
}


_LC_CLASSES = {  # LangChain message class names written as "type" (model_dump of message chunks)
    "AIMessageChunk": "ai", "AIMessage": "ai", "HumanMessage": "human", "HumanMessageChunk": "human",
    "SystemMessage": "system", "SystemMessageChunk": "system", "ToolMessage": "tool", "ToolMessageChunk": "tool",
}


def maybe_json(v: Any) -> Any:
    """Parse text that holds a JSON object or array; anything else is returned unchanged.

    Example:
        >>> maybe_json('{"a": 1}'), maybe_json("plain")
        ({'a': 1}, 'plain')
    """
    if isinstance(v, (bytes, bytearray)):
        try:
            v = v.decode()
        except UnicodeDecodeError:
            return v
    if isinstance(v, str):
        s = v.lstrip()
        if s[:1] in ("{", "["):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                import json

                try:
                    return json.loads(s)
                except ValueError:
                    return v
    return v


def _role(r: Any, default: str | None) -> str | None:
    if r is None:
        return default
    r = str(r).lower()
    return _ROLE_ALIASES.get(r, r)


def _args(v: Any) -> Any:
    return v


def _call(id_: Any, name: Any, args: Any) -> dict[str, Any]:
    return {"id": id_, "name": name, "arguments": args}


def _content_blocks(content: list[Any]) -> tuple[list[str], list[dict[str, Any]], list[tuple[Any, Any]]]:
    """Split a list of content parts into texts, tool calls and tool results (call id, text)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[tuple[Any, Any]] = []
    for p in content:
        if isinstance(p, str):
            texts.append(p)
            continue
        if not isinstance(p, Mapping):
            continue
        t = p.get("type")
        if t in ("tool_use", "tool-call", "tool_call", "function_call"):
            calls.append(_call(p.get("id") or p.get("toolCallId") or p.get("call_id"),
                               p.get("name") or p.get("toolName"),
                               p.get("input", p.get("args", p.get("arguments")))))
        elif t in ("tool_result", "tool-result", "tool_call_response", "function_call_output"):
            out = p.get("content", p.get("output", p.get("result", p.get("response"))))
            if isinstance(out, Mapping) and "value" in out and t == "tool-result":
                out = out["value"]
            results.append((p.get("tool_use_id") or p.get("toolCallId") or p.get("id") or p.get("call_id"), out))
        elif "functionCall" in p or isinstance(p.get("function_call"), Mapping):  # Gemini (camel or snake case)
            fc = p.get("functionCall") or p.get("function_call") or {}
            calls.append(_call(fc.get("id"), fc.get("name"), fc.get("args")))
        elif "functionResponse" in p or isinstance(p.get("function_response"), Mapping):
            fr = p.get("functionResponse") or p.get("function_response") or {}
            results.append((fr.get("id") or fr.get("name"), fr.get("response")))
        elif p.get("thought") is True or t in ("reasoning", "thinking", "redacted_thinking"):  # Gemini thought summary part
            continue
        elif isinstance(p.get("text"), str):
            texts.append(p["text"])
        elif isinstance(p.get("content"), str):
            texts.append(p["content"])
        elif t in ("image_url", "image", "input_image", "file", "input_audio", "audio"):
            continue
    return texts, calls, results


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping) and len(v) == 1:  # Gemini function_response {"content"|"result"|"output": text}
        (k, only), = v.items()
        if k in ("content", "result", "output") and isinstance(only, str):
            return only
    if isinstance(v, list):
        texts, _, results = _content_blocks(v)
        if texts:
            return "\n".join(texts)
        if results:
            return "\n".join(_text(r) or "" for _, r in results)
        return json_text(v)
    return json_text(v)


def _one(m: Mapping[str, Any], default_role: str | None) -> list[dict[str, Any]]:
    """Canonical messages from one message-like mapping (may give several: Anthropic tool
    results inside a user turn become tool messages)."""
    if m.get("lc") == 1 and isinstance(m.get("kwargs"), Mapping):  # serialised LangChain
        kw = dict(m["kwargs"])
        ident = m.get("id") or []
        kind = ident[-1] if isinstance(ident, list) and ident else ""
        kw.setdefault("type", {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system",
                               "ToolMessage": "tool"}.get(kind, "human"))
        return _one(kw, default_role)
    t = m.get("type")
    # OpenAI Responses API items
    if t == "function_call":
        return [message("assistant", None, [_call(m.get("call_id") or m.get("id"), m.get("name"), m.get("arguments"))])]
    if t == "function_call_output":
        return [message("tool", _text(m.get("output")), None, m.get("call_id"))]
    if t == "reasoning":
        return []
    role = m.get("role")
    if role is None and t in ("human", "ai", "system", "tool", "function", "chat", "generic", *_LC_CLASSES):
        role = _LC_CLASSES.get(t, t)
    role = _role(role, default_role)
    content = m.get("content")
    parts = m.get("parts")
    calls: list[dict[str, Any]] = []
    results: list[tuple[Any, Any]] = []
    texts: list[str] = []
    if parts is not None and content is None:
        if isinstance(parts, list):
            texts, calls, results = _content_blocks(
                [{**p, "type": p.get("type") or ("text" if "text" in p or "content" in p else None)}
                 if isinstance(p, Mapping) else p for p in parts]
            )
    elif isinstance(content, list):
        texts, calls, results = _content_blocks(content)
    elif content is not None:
        texts = [content if isinstance(content, str) else (json_text(content) or "")]
    # tool calls declared beside the content
    for c in m.get("tool_calls") or (m.get("additional_kwargs") or {}).get("tool_calls") or []:
        if not isinstance(c, Mapping):
            continue
        fn = as_map(c.get("function")) if not isinstance(c.get("function"), str) else {"name": c["function"]}  # Inspect: a name
        calls.append(_call(c.get("id"), c.get("name") or fn.get("name"),
                           c.get("arguments", c.get("args", fn.get("arguments") if fn else None))))
    fc = m.get("function_call") or (m.get("additional_kwargs") or {}).get("function_call")
    if isinstance(fc, Mapping):
        calls.append(_call(None, fc.get("name"), fc.get("arguments")))
    # dedupe calls that appear both in content and in tool_calls (LangChain AIMessage)
    seen: set[tuple[Any, Any]] = set()
    uniq = []
    for c in calls:
        key = (c["id"], c["name"])
        if c["id"] is not None and key in seen:  # calls without ids (Gemini) may repeat a name on purpose
            continue
        seen.add(key)
        uniq.append(c)
    calls = uniq
    out: list[dict[str, Any]] = []
    if results and not texts and not calls and role in ("user", "tool", None):
        for call_id, r in results:
            out.append(message("tool", _text(r), None, call_id))
        return out
    tool_call_id = m.get("tool_call_id") or m.get("toolCallId")
    if results and role == "tool" and tool_call_id is None:
        tool_call_id = results[0][0]
    if results and not texts:
        texts = [_text(r) or "" for _, r in results]
    text = "\n".join(texts) if texts else None
    out.append(message(role, text, calls, tool_call_id))
    return out


def _unwrap(obj: Any, side: str) -> Any:
    """Find the list of messages inside the wrappers used by frameworks and providers."""
    if isinstance(obj, Mapping):
        if "choices" in obj and isinstance(obj["choices"], list):  # chat completion
            msgs: list[Any] = []
            for ch in obj["choices"]:
                if isinstance(ch, Mapping):
                    msg = ch.get("message") or ch.get("delta")
                    if isinstance(msg, Mapping):
                        msgs.append({"role": "assistant", **msg})
                    elif isinstance(ch.get("text"), str):
                        msgs.append({"role": "assistant", "content": ch["text"]})
            return msgs
        if obj.get("object") == "response" or ("output" in obj and isinstance(obj.get("output"), list)
                                                and side == "output"):
            return [dict(it, role=it.get("role") or "assistant") if isinstance(it, Mapping) and it.get("type") == "message"
                    else it for it in obj["output"]]
        if "candidates" in obj and isinstance(obj["candidates"], list):  # Gemini response
            return [dict(c.get("content") or {}, role=(c.get("content") or {}).get("role") or "model")
                    for c in obj["candidates"] if isinstance(c, Mapping)]
        if "contents" in obj:  # Gemini request
            c = obj["contents"]
            msgs = []
            si = obj.get("system_instruction") or (obj.get("config") or {}).get("system_instruction") if isinstance(obj.get("config"), Mapping) else obj.get("system_instruction")
            if si:
                msgs.append({"role": "system", "content": si if isinstance(si, str) else _text(si.get("parts") if isinstance(si, Mapping) else si)})
            if isinstance(c, str):
                msgs.append({"role": "user", "content": c})
            elif isinstance(c, list):
                for x in c:
                    msgs.append({"role": "user", "content": x} if isinstance(x, str) else x)
            elif isinstance(c, Mapping):
                msgs.append(c)
            return msgs
        for key in ("messages", "input_messages", "output_messages", "generations", "message"):
            v = obj.get(key)
            if isinstance(v, list) and v and isinstance(v[0], list):  # LangChain batches
                v = v[0]
            if isinstance(v, (list, Mapping)) and v:
                inner = v if isinstance(v, list) else [v]
                msgs = []
                sys_ = obj.get("system")
                if isinstance(sys_, str) and sys_:
                    msgs.append({"role": "system", "content": sys_})
                return msgs + list(inner)
        if "prompt" in obj or "system" in obj:
            msgs = []
            if isinstance(obj.get("system"), str) and obj["system"]:
                msgs.append({"role": "system", "content": obj["system"]})
            p = obj.get("prompt")
            if isinstance(p, str):
                msgs.append({"role": "user", "content": p})
            elif isinstance(p, list):
                msgs.extend(p)
            return msgs
        if "role" in obj or "type" in obj and obj.get("type") in ("human", "ai", "system", "tool", "message", "function_call", "function_call_output",
                                                                 *_LC_CLASSES):
            return [obj]
        if "lc" in obj and "kwargs" in obj:
            return [obj]
        if "text" in obj and isinstance(obj["text"], str) and len(obj) <= 4:
            return [{"role": "assistant" if side == "output" else "user", "content": obj["text"]}]
        if "content" in obj and len(obj) <= 3:
            return [dict(obj)]
        return None
    if isinstance(obj, list):
        return obj
    if isinstance(obj, str):
        return [{"role": "assistant" if side == "output" else "user", "content": obj}]
    return None


def normalize_messages(obj: Any, side: str = "input") -> list[dict[str, Any]] | None:
    """Canonical messages from any supported shape, or None when ``obj`` holds no messages.

    ``side`` is ``"input"`` or ``"output"``: it decides the role of bare text.

    Example:
        >>> normalize_messages({"choices": [{"message": {"content": "Hi"}}]}, "output")
        [{'role': 'assistant', 'content': 'Hi', 'tool_calls': None, 'tool_call_id': None}]
    """
    obj = maybe_json(obj)
    lst = _unwrap(obj, side)
    if lst is None:
        return None
    out: list[dict[str, Any]] = []
    default = "assistant" if side == "output" else "user"
    for m in lst:
        m = maybe_json(m)
        if isinstance(m, str):
            out.append(message(default, m))
        elif isinstance(m, Mapping):
            c = m.get("content")
            if isinstance(c, Mapping) and c.get("type") == "function" and isinstance(c.get("function"), Mapping):
                continue  # a tool definition passed along the messages (LangChain), not a message
            if "toolName" in m and "role" not in m:  # Vercel AI SDK tool calls list (ai.response.toolCalls)
                call = _call(m.get("toolCallId"), m.get("toolName"), m.get("input", m.get("args")))
                if out and out[-1]["role"] == "assistant" and out[-1]["tool_calls"] and not out[-1]["content"]:
                    out[-1] = message("assistant", None, [*out[-1]["tool_calls"], call])
                else:
                    out.append(message("assistant", None, [call]))
                continue
            if not any(k in m for k in ("role", "content", "parts", "type", "tool_calls", "lc", "text")):
                return None
            if "text" in m and not any(k in m for k in ("role", "content", "parts", "type")):
                out.append(message(default, m["text"]))
                continue
            out.extend(_one(m, default))
        elif isinstance(m, list):  # nested batches
            sub = normalize_messages(m, side)
            if sub:
                out.extend(sub)
        else:
            return None
    return out or None
