"""An OTLP/HTTP trace receiver that writes into the store.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` as protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip- or
deflate-compressed, and answers as the OTLP specification says:

- 200 with an ``ExportTraceServiceResponse`` in the request's encoding; ``partial_success``
  counts the spans it rejected (no trace or span id) and says why;
- 400 with a ``google.rpc.Status`` body for a body that cannot be parsed; nothing of it is stored;
- 413 for a body (or its decompressed content) over ``max_body_bytes``;
- 415 for any other content type or content encoding;
- 503 with ``Retry-After`` when the write queue is full (OTLP exporters retry): memory stays
  bounded under a burst (at most ``max_queue_spans`` queued spans and ``max_inflight`` bodies
  being parsed).

Memory is bounded by ``max_queue_spans`` (a few KB per queued span) plus ``max_inflight``
bodies of at most ``max_body_bytes``.

Parsing uses :mod:`llmops_nb.loaders.otlp` (``iter_otlp_proto`` / ``iter_otlp_json`` and
``map_span``), the same mapping as the file loaders. A writer thread writes the queued spans in
batches (one store segment per batch); ``stop()`` stops accepting, then writes everything queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmops_nb.capture._otel import finish_row, rows_to_arrow

__all__ = ["Collector", "CollectorStats"]

log = logging.getLogger("llmops_nb.capture")

_PROTO_TYPES = {"application/x-protobuf", "application/protobuf", "application/octet-stream"}
_JSON_TYPES = {"application/json"}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")

# google.rpc.Code values used in Status bodies
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class CollectorStats:
    """Counters of a running :class:`Collector` (spans unless said otherwise)."""

    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    stored: int = 0
    queued: int = 0
    malformed_requests: int = 0
    busy_requests: int = 0
    too_large_requests: int = 0
    unsupported_requests: int = 0
    write_errors: int = 0
    batches_written: int = 0
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Collector:
    """Receive OTLP/HTTP traces (``POST /v1/traces``) from any OpenTelemetry SDK into a store.

    ``port=0`` picks a free port (see ``url`` after ``start()``). Use it as a context manager,
    or ``start()`` / ``stop()``. ``stop()`` stops accepting, then writes everything queued.
    The command line equivalent is ``llmops-nb collect --store PATH --port 4318``.

    Example:
        >>> import llmops_nb as lo, tempfile  # doctest: +SKIP
        >>> store = lo.Store(tempfile.mkdtemp())  # doctest: +SKIP
        >>> with lo.capture.Collector(store, port=0) as col:  # doctest: +SKIP
        ...     print(col.endpoint)   # point OTEL_EXPORTER_OTLP_TRACES_ENDPOINT here
        ...     ...                   # run the instrumented app
        >>> store.spans()  # doctest: +SKIP
    """

    def __init__(
        self,
        store: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 4318,
        max_body_bytes: int = 16 * 1024 * 1024,
        max_queue_spans: int = 50_000,
        max_inflight: int = 8,
        batch_spans: int = 10_000,
        flush_interval_s: float = 1.0,
        retry_after_s: int = 1,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.max_queue_spans = max_queue_spans
        self.max_inflight = max_inflight
        self.batch_spans = batch_spans
        self.flush_interval_s = flush_interval_s
        self.retry_after_s = retry_after_s
        self.stats = CollectorStats()
        self._queue: deque[list[dict[str, Any]]] = deque()
        self._pending = 0  # spans queued or being written
        self._cond = threading.Condition()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._runner: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._sem: asyncio.Semaphore | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self.running = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """The base URL (``http://host:port``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The traces endpoint (``http://host:port/v1/traces``)."""
        return f"{self.url}/v1/traces"

    def start(self) -> Collector:
        """Start serving in background threads; returns self."""
        if self.running:
            return self
        from llmops_nb.store import Store

        if self.store is None or isinstance(self.store, (str, Path)):
            self.store = Store(self.store)
        self._stopping = False
        self._started.clear()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(self.max_inflight, 4)),
                                                           thread_name_prefix="llmops-collect-parse")
        self._writer = threading.Thread(target=self._write_loop, name="llmops-collect-writer", daemon=True)
        self._writer.start()
        self._thread = threading.Thread(target=self._serve, name="llmops-collect-http", daemon=True)
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError(f"the OTLP collector did not start on {self.host}:{self.port} within 20 s")
        if self._start_error is not None:
            err, self._start_error = self._start_error, None
            self._stop_writer()
            raise OSError(f"could not listen on {self.host}:{self.port}: {err}; choose another --port") from err
        self.running = True
        import atexit

        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop accepting requests, then write everything queued into the store."""
        if not self.running:
            return
        if self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                fut.result(timeout)
            except Exception as e:  # pragma: no cover - best effort
                log.warning("llmops_nb collector: shutdown: %s", e)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        self._stop_writer(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._loop = None
        self.running = False
        import atexit

        atexit.unregister(self.stop)

    def _stop_writer(self, timeout: float = 60.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join(timeout)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every accepted span is in the store; True when done within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        s = self.stats
        return f"Collector({state}, {self.endpoint}, accepted={s.accepted}, stored={s.stored}, rejected={s.rejected})"

    # ------------------------------------------------------------------ HTTP
    def _serve(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._sem = asyncio.Semaphore(self.max_inflight)
            app = web.Application(client_max_size=self.max_body_bytes)
            app.router.add_post("/v1/traces", self._handle)
            app.router.add_get("/", self._health)
            app.router.add_get("/health", self._health)
            runner = web.AppRunner(app, access_log=None, auto_decompress=False, handle_signals=False)
            self._runner = runner
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port, backlog=1024)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as e:
            self._start_error = e
            self._started.set()
            loop.close()
            return
        self._started.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"status": "ok", **{k: v for k, v in self.stats.as_dict().items() if k != "last_error"}})

    def _full(self, extra: int = 0) -> bool:
        return self._pending + extra > self.max_queue_spans

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        self.stats.requests += 1
        ctype = (request.content_type or "").lower()
        enc = "proto" if ctype in _PROTO_TYPES else "json" if ctype in _JSON_TYPES else None
        if enc is None:
            self.stats.unsupported_requests += 1
            return _status_response(415, "json", _INVALID_ARGUMENT,
                                    f"unsupported content type {ctype!r}; send application/x-protobuf or application/json")
        coding = (request.headers.get("Content-Encoding") or "identity").lower().strip()
        if coding not in ("identity", "gzip", "x-gzip", "deflate", ""):
            self.stats.unsupported_requests += 1
            return _status_response(415, enc, _INVALID_ARGUMENT,
                                    f"unsupported content encoding {coding!r}; send gzip, deflate or none")
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            self.stats.too_large_requests += 1
            return _status_response(413, enc, _INVALID_ARGUMENT,
                                    f"body of {request.content_length} bytes is over the limit of {self.max_body_bytes}")
        if self._full() or self._stopping:
            return self._busy(enc)
        assert self._sem is not None and self._pool is not None
        async with self._sem:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                self.stats.too_large_requests += 1
                return _status_response(413, enc, _INVALID_ARGUMENT, f"body is over the limit of {self.max_body_bytes} bytes")
            loop = asyncio.get_running_loop()
            try:
                rows, rejected, why = await loop.run_in_executor(self._pool, self._parse, enc, coding, body)
            except _BadRequest as e:
                if e.status == 413:
                    self.stats.too_large_requests += 1
                else:
                    self.stats.malformed_requests += 1
                self.stats.last_error = e.message
                return _status_response(e.status, enc, _INVALID_ARGUMENT, e.message)
        if rows:
            with self._cond:
                if self._full(len(rows)) and self._pending > 0:
                    busy = True
                else:
                    busy = False
                    self._queue.append(rows)
                    self._pending += len(rows)
                    self.stats.queued = self._pending
                    self._cond.notify_all()
            if busy:
                return self._busy(enc)
        self.stats.accepted += len(rows)
        self.stats.rejected += rejected
        return _export_response(enc, rejected, why)

    def _busy(self, enc: str) -> Any:
        self.stats.busy_requests += 1
        resp = _status_response(503, enc, _UNAVAILABLE, f"the write queue is full ({self._pending} spans); retry later")
        resp.headers["Retry-After"] = str(self.retry_after_s)
        return resp

    # ------------------------------------------------------------------ parsing
    def _parse(self, enc: str, coding: str, body: bytes) -> tuple[list[dict[str, Any]], int, str | None]:
        from llmops_nb.loaders._common import LoadError
        from llmops_nb.loaders.otlp import iter_otlp_json, iter_otlp_proto, map_span

        data = _decompress(body, coding, self.max_body_bytes)
        source = "otlp_proto" if enc == "proto" else "otlp_json"
        try:
            if enc == "proto":
                records = list(iter_otlp_proto(data))
            else:
                try:
                    doc = orjson.loads(data) if data.strip() else {}
                except orjson.JSONDecodeError as e:
                    raise _BadRequest(400, f"the body is not valid JSON ({e})") from None
                if not isinstance(doc, Mapping):
                    raise _BadRequest(400, f"the body is a JSON {type(doc).__name__}, not an ExportTraceServiceRequest object")
                if not doc or ("resourceSpans" not in doc and "resource_spans" not in doc):
                    records = []
                else:
                    records = list(iter_otlp_json(doc))
        except _BadRequest:
            raise
        except LoadError as e:
            raise _BadRequest(400, f"malformed OTLP {enc}: {e}") from None
        except Exception as e:  # any structural surprise in the body
            raise _BadRequest(400, f"malformed OTLP {enc}: {type(e).__name__}: {e}") from None
        rows: list[dict[str, Any]] = []
        rejected = 0
        why: str | None = None
        for i, raw in enumerate(records):
            tid, sid = raw.get("trace_id"), raw.get("span_id")
            if not (isinstance(tid, str) and _HEX32.match(tid) and isinstance(sid, str) and _HEX16.match(sid)):
                rejected += 1
                why = why or f"span {i} ({raw.get('name')!r}) has an invalid trace_id {tid!r} or span_id {sid!r}"
                continue
            try:
                rows.append(finish_row(map_span(raw, source)))
            except Exception as e:
                rejected += 1
                why = why or f"span {i} ({raw.get('name')!r}) could not be mapped: {type(e).__name__}: {e}"
        return rows, rejected, why

    # ------------------------------------------------------------------ writing
    def _write_loop(self) -> None:
        while True:
            with self._cond:
                first_wait = time.monotonic()
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                    first_wait = time.monotonic()
                if not self._queue and self._stopping:
                    return
                # gather for up to flush_interval or until a full batch
                while (not self._stopping and sum(len(b) for b in self._queue) < self.batch_spans
                       and time.monotonic() - first_wait < self.flush_interval_s):
                    self._cond.wait(self.flush_interval_s - (time.monotonic() - first_wait))
                rows: list[dict[str, Any]] = []
                while self._queue and len(rows) < self.batch_spans:
                    rows.extend(self._queue.popleft())
            n = len(rows)
            for attempt in range(5):
                try:
                    self.store.add("spans", rows_to_arrow(rows))
                    self.stats.stored += n
                    self.stats.batches_written += 1
                    break
                except Exception as e:
                    self.stats.last_error = f"store write failed: {type(e).__name__}: {e}"
                    log.warning("llmops_nb collector: could not write %d spans (attempt %d): %s", n, attempt + 1, e)
                    time.sleep(0.2 * 2**attempt)
            else:
                self.stats.write_errors += n
            with self._cond:
                self._pending -= n
                self.stats.queued = self._pending
                self._cond.notify_all()


def _decompress(body: bytes, coding: str, limit: int) -> bytes:
    if coding in ("identity", ""):
        return body
    wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        if coding == "deflate":  # raw deflate without the zlib header
            try:
                d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = d.decompress(body, limit + 1)
            except zlib.error:
                raise _BadRequest(400, f"the body is not valid {coding} data ({e})") from None
        else:
            raise _BadRequest(400, f"the body is not valid {coding} data ({e})") from None
    if len(out) > limit or d.unconsumed_tail:
        raise _BadRequest(413, f"the decompressed body is over the limit of {limit} bytes")
    return out


def _status_response(http_status: int, enc: str, code: int, message: str) -> Any:
    from aiohttp import web
    from google.rpc.status_pb2 import Status

    if enc == "proto":
        return web.Response(status=http_status, body=Status(code=code, message=message).SerializeToString(),
                            content_type="application/x-protobuf")
    return web.Response(status=http_status, body=orjson.dumps({"code": code, "message": message}),
                        content_type="application/json")


def _export_response(enc: str, rejected: int, why: str | None) -> Any:
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    msg = ExportTraceServiceResponse()
    if rejected:
        msg.partial_success.rejected_spans = rejected
        msg.partial_success.error_message = why or f"{rejected} spans rejected"
    if enc == "proto":
        return web.Response(status=200, body=msg.SerializeToString(), content_type="application/x-protobuf")
    from google.protobuf.json_format import MessageToDict

    return web.Response(status=200, body=orjson.dumps(MessageToDict(msg)), content_type="application/json")
