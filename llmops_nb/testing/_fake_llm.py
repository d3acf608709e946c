"""A local OpenAI-compatible server for tests, benchmarks and offline demos.

It listens on 127.0.0.1 only, answers ``/v1/chat/completions`` (plain and streaming),
``/v1/responses`` (the Responses API, plain) and ``/v1/embeddings``, reports token usage, and
can inject faults: 429s, 500s, timeouts, malformed bodies, a request-per-minute limit and a
fixed latency. A responder can also answer with an API error of its choice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["FakeLLMServer", "FaultConfig"]


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _messages_text(messages: list[dict[str, Any]]) -> str:
    out = []
    for m in messages or []:
        c = m.get("content")
        if isinstance(c, list):
            c = " ".join(p.get("text", "") for p in c if isinstance(p, dict))
        out.append(str(c or ""))
    return "\n".join(out)


@dataclass
class FaultConfig:
    """Fault injection settings (rates are probabilities per request, drawn with ``seed``).

    ``plan``: a list of faults consumed one per request before the rates apply, each one of
    ``"429" "500" "timeout" "malformed" "drop" None``, or a configuration error the way
    OpenAI answers it: ``"401"`` (invalid key), ``"403"``, ``"404"`` (unknown model), ``"400"``.
    ``rate_401``: the share of requests refused as unauthenticated.

    Example:
        >>> FaultConfig(rate_429=0.2, seed=1).rate_429
        0.2
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_malformed: float = 0.0
    rate_401: float = 0.0
    timeout_s: float = 30.0
    requests_per_minute: int | None = None
    plan: list[str | None] = field(default_factory=list)
    seed: int = 0


Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]


class FakeLLMServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1, started in a background thread.

    ``responder(request_json)`` returns the assistant text, or a dict with any of ``content``,
    ``tool_calls`` (``[{id, name, arguments}]``), ``usage``; or ``{"error": {...}, "status": 400}``
    for an API error. Requests to ``/v1/responses`` reach the same responder (their ``input`` is
    in the request as the Responses API sent it); ``usage`` given as chat-completions counts is
    translated. Use it as a context manager; ``url`` is the ``api_base``.

    Example:
        >>> with FakeLLMServer(responder=lambda req: "hello") as srv:  # doctest: +SKIP
        ...     import litellm
        ...     r = litellm.completion(model="openai/fake", api_base=srv.url, api_key="x",
        ...                            messages=[{"role": "user", "content": "hi"}])
        ...     r.choices[0].message.content
        'hello'
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency_ms: float = 0.0,
        faults: FaultConfig | None = None,
        port: int = 0,
        model: str = "fake-model",
    ) -> None:
        self.responder = responder or (lambda req: "OK")
        self.latency_ms = latency_ms
        self.faults = faults or FaultConfig()
        self.port = port
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []  # time.time() of each chat request as it arrived
        self.status_counts: collections.Counter[int] = collections.Counter()
        self._rng = random.Random(self.faults.seed)
        self._window: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._started = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        """Requests answered with a completion (status 200)."""
        return self.status_counts[200]

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._run, name="fake-llm", daemon=True)
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError("the fake LLM server did not start within 20 s")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/responses", self._responses)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        runner = web.AppRunner(app, access_log=None)
        self._runner = runner
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        loop.run_forever()
        loop.close()

    # ------------------------------------------------------------------ faults
    def _fault(self) -> str | None:
        with self._lock:
            f = self.faults
            if f.requests_per_minute:
                now = time.monotonic()
                while self._window and now - self._window[0] > 60:
                    self._window.popleft()
                if len(self._window) >= f.requests_per_minute:
                    return "ratelimit"
                self._window.append(now)
            if f.plan:
                return f.plan.pop(0)
            r = self._rng.random()
            for name, rate in (("429", f.rate_429), ("500", f.rate_500), ("timeout", f.rate_timeout),
                               ("malformed", f.rate_malformed), ("401", f.rate_401)):
                if r < rate:
                    return name
                r -= rate
        return None

    async def _faulted(self, fault: str | None) -> Any:
        from aiohttp import web

        if fault in ("429", "ratelimit"):
            self.status_counts[429] += 1
            return web.json_response(
                {"error": {"message": "Rate limit exceeded", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
                status=429, headers={"retry-after": "1" if fault == "ratelimit" else "0"},
            )
        config = {"401": ("Incorrect API key provided: sk-fa***. You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
                  "403": ("You are not allowed to sample from this model", "invalid_request_error", "model_not_allowed"),
                  "404": ("The model `nope` does not exist or you do not have access to it.", "invalid_request_error",
                          "model_not_found"),
                  "400": ("Invalid value for 'temperature': must be between 0 and 2.", "invalid_request_error", None)}
        if fault in config:
            code = int(fault)
            self.status_counts[code] += 1
            msg, typ, err_code = config[fault]
            return web.json_response({"error": {"message": msg, "type": typ, "param": None, "code": err_code}}, status=code)
        if fault == "500":
            self.status_counts[500] += 1
            return web.json_response({"error": {"message": "Internal server error", "type": "server_error"}}, status=500)
        if fault == "timeout":
            self.status_counts[0] += 1
            await asyncio.sleep(self.faults.timeout_s)
            return web.json_response({"error": {"message": "late"}}, status=504)
        if fault == "drop":
            self.status_counts[0] += 1
            raise ConnectionResetError("dropped by the fake server")
        return None

    # ------------------------------------------------------------------ handlers
    async def _models(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json(loads=orjson.loads)
        self.request_times.append(time.time())
        self.requests.append(body)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = self._fault()
        resp = await self._faulted(fault)
        if resp is not None:
            return resp
        out = self.responder(body)
        if asyncio.iscoroutine(out):
            out = await out
        spec: dict[str, Any] = {"content": out} if isinstance(out, str) else dict(out)
        if "error" in spec:
            return self._api_error(spec)
        content = spec.get("content")
        tool_calls = spec.get("tool_calls")
        prompt_tokens = _count_tokens(_messages_text(body.get("messages", [])))
        completion_tokens = _count_tokens(content or "") + sum(_count_tokens(str(tc)) for tc in tool_calls or [])
        usage: dict[str, Any] = spec.get("usage") or {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        rid = "chatcmpl-" + hashlib.sha1(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]
        model = body.get("model", self.model)
        if fault == "malformed":
            self.status_counts[200] += 1
            content = "I think the answer is {not json" if content is None else content[: max(1, len(content) // 3)] + " {{ malformed"
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            msg["tool_calls"] = [
                {"id": tc.get("id", f"call_{i}"), "type": "function",
                 "function": {"name": tc["name"], "arguments": tc["arguments"] if isinstance(tc["arguments"], str) else orjson.dumps(tc["arguments"]).decode()}}
                for i, tc in enumerate(tool_calls)
            ]
        finish = "tool_calls" if tool_calls else "stop"
        if body.get("stream"):
            return await self._stream(request, rid, model, msg, finish, usage, body)
        if fault != "malformed":
            self.status_counts[200] += 1
        return web.json_response(
            {
                "id": rid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                "usage": usage,
            }
        )

    async def _stream(self, request: Any, rid: str, model: str, msg: dict[str, Any], finish: str, usage: dict[str, Any], body: dict[str, Any]) -> Any:
        from aiohttp import web

        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, with_usage: bool = False) -> bytes:
            d: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            if with_usage:
                d["usage"] = usage
                d["choices"] = []
            return b"data: " + orjson.dumps(d) + b"\n\n"

        await resp.write(chunk({"role": "assistant", "content": ""}))
        words = (msg.get("content") or "").split(" ")
        for i, w in enumerate(words):
            await resp.write(chunk({"content": w if i == 0 else " " + w}))
        if msg.get("tool_calls"):
            await resp.write(chunk({"tool_calls": [{**tc, "index": i} for i, tc in enumerate(msg["tool_calls"])]}))
        await resp.write(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(chunk({}, None, with_usage=True))
        await resp.write(b"data: [DONE]\n\n")
        self.status_counts[200] += 1
        return resp

    def _api_error(self, spec: dict[str, Any]) -> Any:
        from aiohttp import web

        status = int(spec.get("status", 400))
        self.status_counts[status] += 1
        return web.json_response({"error": spec["error"]}, status=status)

    async def _responses(self, request: Any) -> Any:
        """The Responses API (``POST /v1/responses``, not streamed): same responder, Responses shapes."""
        from aiohttp import web

        body = await request.json(loads=orjson.loads)
        self.requests.append(body)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        resp = await self._faulted(self._fault())
        if resp is not None:
            return resp
        out = self.responder(body)
        if asyncio.iscoroutine(out):
            out = await out
        spec: dict[str, Any] = {"content": out} if isinstance(out, str) else dict(out)
        if "error" in spec:
            return self._api_error(spec)
        rid = "resp_" + hashlib.sha1(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
        items: list[dict[str, Any]] = []
        if spec.get("content") is not None:
            items.append({"type": "message", "id": "msg_" + rid[5:], "status": "completed", "role": "assistant",
                          "content": [{"type": "output_text", "text": spec["content"], "annotations": []}]})
        for i, tc in enumerate(spec.get("tool_calls") or []):
            args = tc["arguments"] if isinstance(tc["arguments"], str) else orjson.dumps(tc["arguments"]).decode()
            items.append({"type": "function_call", "id": f"fc_{rid[5:]}_{i}", "call_id": tc.get("id", f"call_{i}"),
                          "name": tc["name"], "arguments": args, "status": "completed"})
        u = spec.get("usage")
        if u is None:
            inp = body.get("input")
            pt = _count_tokens(inp if isinstance(inp, str) else orjson.dumps(inp).decode())
            ct = _count_tokens(spec.get("content") or "") + sum(_count_tokens(str(tc)) for tc in spec.get("tool_calls") or [])
        else:
            pt, ct = u.get("prompt_tokens", u.get("input_tokens", 0)), u.get("completion_tokens", u.get("output_tokens", 0))
        self.status_counts[200] += 1
        return web.json_response({
            "id": rid, "object": "response", "created_at": int(time.time()), "status": "completed",
            "model": body.get("model", self.model), "output": items, "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "instructions": body.get("instructions"), "temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "error": None, "incomplete_details": None, "metadata": {}, "text": {"format": {"type": "text"}},
            "usage": {"input_tokens": pt, "output_tokens": ct, "total_tokens": pt + ct,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        })

    async def _embeddings(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json(loads=orjson.loads)
        self.requests.append(body)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        resp = await self._faulted(self._fault())
        if resp is not None:
            return resp
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            h = hashlib.sha256(str(text).encode()).digest()
            vec = [(b - 127.5) / 127.5 for b in h[:16]]
            data.append({"object": "embedding", "index": i, "embedding": vec})
            tokens += _count_tokens(str(text))
        self.status_counts[200] += 1
        return web.json_response({"object": "list", "data": data, "model": body.get("model", self.model),
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
