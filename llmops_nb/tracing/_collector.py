"""An OTLP/HTTP trace receiver that writes into the store.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` as protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip- or
deflate-compressed, and answers as the OTLP specification says:

- 200 with an ``ExportTraceServiceResponse`` in the request's encoding, once the body is durable
  (fsynced into the receiver's write-ahead log); ``partial_success`` counts the spans it
  rejected (no trace or span id) and says why;
- 400 with a ``google.rpc.Status`` body for a body that cannot be parsed; nothing of it is stored;
- 408 for a body not received within ``read_timeout_s`` (a stalled client), then the
  connection is closed; a connection that sends no complete request headers within
  ``read_timeout_s`` (or stays idle that long) is closed too;
- 413 for a body (or its decompressed content) over ``max_body_bytes``;
- 415 for a missing or unsupported content type, or an unsupported content encoding;
- 503 with ``Retry-After`` (OTLP exporters retry) while the store cannot be written, while the
  write queue is full, or while bodies being received hold ``max_reading_bytes``: memory stays
  bounded under a burst.

Nothing acknowledged is lost: each accepted body is appended to a write-ahead log and fsynced
before the 200 (requests arriving together share one fsync), the log is replayed when a receiver
starts on the same store, and a log segment is deleted only once its spans are committed to the
store (see :mod:`llmops_nb.tracing._wal`). The receiver is asynchronous (aiohttp): a client that
stalls mid-body holds only the bytes it sent, for at most ``read_timeout_s``.

Parsing uses :mod:`llmops_nb.loaders.otlp` (``iter_otlp_proto`` / ``iter_otlp_json`` and
``map_span``), the same mapping as the file loaders. A writer thread writes the queued spans in
batches (one store segment per batch); ``stop()`` stops accepting, then writes everything queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
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

from llmops_nb.tracing._otel import finish_row, rows_to_arrow
from llmops_nb.tracing._wal import Wal, WalRecord, orphan_logs, read_segment, wal_root

__all__ = ["Collector", "CollectorStats"]

log = logging.getLogger("llmops_nb.capture")

_PROTO_TYPES = {"application/x-protobuf", "application/protobuf", "application/octet-stream"}
_JSON_TYPES = {"application/json"}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")

# google.rpc.Code values used in Status bodies
_INVALID_ARGUMENT = 3
_DEADLINE_EXCEEDED = 4
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
    replayed: int = 0
    malformed_requests: int = 0
    busy_requests: int = 0
    too_large_requests: int = 0
    unsupported_requests: int = 0
    timed_out_requests: int = 0
    aborted_requests: int = 0
    write_errors: int = 0
    batches_written: int = 0
    wal_syncs: int = 0
    store_failing: bool = False
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Batch:
    """Rows of one acknowledged body and the log segment holding it."""

    __slots__ = ("rows", "seq")

    def __init__(self, rows: list[dict[str, Any]], seq: int) -> None:
        self.rows = rows
        self.seq = seq


class Collector:
    """Receive OTLP/HTTP traces (``POST /v1/traces``) from any OpenTelemetry SDK into a store.

    ``port=0`` picks a free port (see ``url`` after ``start()``). Use it as a context manager,
    or ``start()`` / ``stop()``. ``stop()`` stops accepting, then writes everything queued.
    A 200 means the spans are durable: they are in the write-ahead log under
    ``<store>/collector/wal/`` and reach the store even if this process is killed (the next
    receiver started on the store replays the log). While the store cannot be written the
    receiver answers 503 with ``Retry-After``, and the exporters retry.
    The command line equivalent is ``llmops-nb collect --store PATH --port 4318``.

    Example:
        >>> import llmops_nb as lo, tempfile  # doctest: +SKIP
        >>> store = lo.Store(tempfile.mkdtemp())  # doctest: +SKIP
        >>> with lo.tracing.Collector(store, port=0) as col:  # doctest: +SKIP
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
        max_reading_bytes: int = 256 * 1024 * 1024,
        read_timeout_s: float = 15.0,
        batch_spans: int = 10_000,
        flush_interval_s: float = 1.0,
        retry_after_s: int = 1,
        wal_dir: str | Path | None = None,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.max_queue_spans = max_queue_spans
        self.max_inflight = max_inflight
        self.max_reading_bytes = max_reading_bytes
        self.read_timeout_s = read_timeout_s
        self.batch_spans = batch_spans
        self.flush_interval_s = flush_interval_s
        self.retry_after_s = retry_after_s
        self.wal_dir = wal_dir
        self.stats = CollectorStats()
        self._queue: deque[_Batch] = deque()
        self._pending = 0  # spans accepted for logging, queued or being written
        self._cond = threading.Condition()
        self._stopping = False
        self._abandon = False
        self._log_closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._syncer: threading.Thread | None = None
        self._runner: Any = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._sem: asyncio.Semaphore | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._wal: Wal | None = None
        self._orphans: list[tuple[Path, Any]] = []
        self._to_log: list[tuple[bytes, list[dict[str, Any]], Any]] = []
        self._log_cond = threading.Condition()
        self._reading_bytes = 0
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
        """Start serving in background threads; returns self. Logs left by a receiver that
        died on this store are replayed into it first (in the background)."""
        if self.running:
            return self
        from llmops_nb.store import Store

        if self.store is None or isinstance(self.store, (str, Path)):
            self.store = Store(self.store)
        self._stopping = self._abandon = self._log_closing = False
        self._started.clear()
        self._thread = threading.Thread(target=self._serve, name="llmops-collect-http", daemon=True)
        self._thread.start()
        if not self._started.wait(20):
            raise RuntimeError(f"the OTLP collector did not start on {self.host}:{self.port} within 20 s")
        if self._start_error is not None:
            err, self._start_error = self._start_error, None
            raise OSError(f"could not listen on {self.host}:{self.port}: {err}; choose another --port") from err
        if self.wal_dir is None and getattr(self.store, "path", None) is None:
            raise TypeError(f"the receiver keeps its write-ahead log in the store's folder, and "
                            f"{type(self.store).__name__} has no .path; pass wal_dir=<a folder> or a Store")
        root = Path(self.wal_dir) if self.wal_dir is not None else wal_root(self.store)
        try:
            self._wal = Wal(root).open()
        except Exception as e:  # nothing may be acknowledged without the log: stop serving
            if self._loop is not None:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            raise OSError(f"cannot write the receiver's write-ahead log under {root}: {e}; "
                          "check that the store folder is writable") from e
        self._orphans = orphan_logs(root, own=self._wal.dir)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(self.max_inflight, 4)),
                                                           thread_name_prefix="llmops-collect-parse")
        self._writer = threading.Thread(target=self._write_loop, name="llmops-collect-writer", daemon=True)
        self._writer.start()
        self._syncer = threading.Thread(target=self._log_loop, name="llmops-collect-wal", daemon=True)
        self._syncer.start()
        self.running = True
        import atexit

        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop accepting requests, then write everything queued into the store. Spans the
        store still refuses after ``timeout`` stay in the write-ahead log for the next start."""
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
        with self._log_cond:
            self._log_closing = True
            self._log_cond.notify_all()
        if self._syncer is not None:
            self._syncer.join(timeout)
        self._stop_writer(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._wal is not None and not self._wal.close():
            log.warning("llmops_nb collector: %d spans could not be written to the store; they stay in %s "
                        "and are written when a receiver starts on this store again", self._pending, self._wal.dir)
        for _, lock in self._orphans:
            lock.release()
        self._orphans = []
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
            if self._writer.is_alive():  # the store still refuses: leave the rest in the log
                with self._cond:
                    self._abandon = True
                    self._cond.notify_all()
                self._writer.join(10)
        with self._cond:
            self.stats.write_errors = self._pending

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every accepted span is in the store; True when done within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending or self._orphans_left():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _orphans_left(self) -> bool:
        return any(d.exists() for d, _ in self._orphans)

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
            # keepalive_timeout also bounds a connection that never completes its headers
            runner = web.AppRunner(app, access_log=None, auto_decompress=False, handle_signals=False,
                                   keepalive_timeout=self.read_timeout_s)
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

    async def _read_body(self, request: Any) -> bytes:
        """The body, within the read deadline and the budget of bytes being received."""
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.read_timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError
                chunk = await asyncio.wait_for(request.content.readany(), left)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                self._reading_bytes += len(chunk)
                chunks.append(chunk)
                if size > self.max_body_bytes:
                    raise _BadRequest(413, f"body is over the limit of {self.max_body_bytes} bytes")
                if self._reading_bytes > self.max_reading_bytes:
                    raise _BadRequest(503, f"bodies being received hold over {self.max_reading_bytes} bytes; retry later")
        finally:
            self._reading_bytes -= size

    async def _handle(self, request: Any) -> Any:
        self.stats.requests += 1
        if "Content-Type" not in request.headers:
            self.stats.unsupported_requests += 1
            return _status_response(415, "json", _INVALID_ARGUMENT,
                                    "the request has no Content-Type; send application/x-protobuf or application/json")
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
            return _closing(_status_response(413, enc, _INVALID_ARGUMENT,
                                             f"body of {request.content_length} bytes is over the limit of {self.max_body_bytes}"))
        if self.stats.store_failing:
            return self._busy(enc, f"the store cannot be written now ({self.stats.last_error}); retry later", close=True)
        if self._full() or self._stopping:
            return self._busy(enc, close=True)
        try:
            body = await self._read_body(request)
        except asyncio.TimeoutError:
            self.stats.timed_out_requests += 1
            return await _drop(request, _status_response(408, enc, _DEADLINE_EXCEEDED,
                                                         f"the body was not received within {self.read_timeout_s:g} s"))
        except (ConnectionError, asyncio.IncompleteReadError) as e:  # the client went away mid-body
            self.stats.aborted_requests += 1
            return _closing(_status_response(400, enc, _INVALID_ARGUMENT, f"the body was cut short ({e})"))
        except _BadRequest as e:
            if e.status == 503:  # refuse the body that would cross the budget, and drop it now
                return await _drop(request, self._busy(enc, e.message))
            self.stats.too_large_requests += 1
            return _closing(_status_response(e.status, enc, _INVALID_ARGUMENT, e.message))
        assert self._sem is not None and self._pool is not None
        loop = asyncio.get_running_loop()
        async with self._sem:
            try:
                rows, rejected, why, decoded = await loop.run_in_executor(self._pool, self._parse, enc, coding, body)
            except _BadRequest as e:
                if e.status == 413:
                    self.stats.too_large_requests += 1
                else:
                    self.stats.malformed_requests += 1
                self.stats.last_error = e.message
                return _status_response(e.status, enc, _INVALID_ARGUMENT, e.message)
        if rows:
            with self._cond:
                busy = self.stats.store_failing or self._stopping or (self._full(len(rows)) and self._pending > 0)
                if not busy:
                    self._pending += len(rows)
            if busy:
                return self._busy(enc)
            done: asyncio.Future[str | None] = loop.create_future()
            if getattr(self.store, "redaction", None) is not None:
                # the store redacts PII at ingest: the log holds the redacted rows, never the raw body
                rows, ipc = await loop.run_in_executor(self._pool, _redacted, self.store.redaction, rows)
                record = WalRecord("arrow", "identity", ipc, len(ipc)).encode()
            else:
                record = WalRecord(enc, coding, body, decoded).encode()
            with self._log_cond:
                self._to_log.append((record, rows, (loop, done)))
                self._log_cond.notify()
            err = await asyncio.shield(done)
            if err is not None:
                return self._busy(enc, err)
        self.stats.accepted += len(rows)
        self.stats.rejected += rejected
        return _export_response(enc, rejected, why)

    def _busy(self, enc: str, why: str | None = None, close: bool = False) -> Any:
        self.stats.busy_requests += 1
        resp = _status_response(503, enc, _UNAVAILABLE, why or f"the write queue is full ({self._pending} spans); retry later")
        resp.headers["Retry-After"] = str(self.retry_after_s)
        return _closing(resp) if close else resp

    # ------------------------------------------------------------------ parsing
    def _parse(self, enc: str, coding: str, body: bytes,
               limit: int | None = None) -> tuple[list[dict[str, Any]], int, str | None, int]:
        from llmops_nb.loaders import LoadError
        from llmops_nb.loaders.otlp import iter_otlp_json, iter_otlp_proto, map_span

        if enc == "arrow":  # a logged record of redacted rows
            import pyarrow as pa

            from llmops_nb.schema import SPANS, from_arrow

            table = pa.ipc.open_stream(body).read_all()
            return from_arrow(table, SPANS).to_dict("records"), 0, None, len(body)
        data = _decompress(body, coding, self.max_body_bytes if limit is None else limit)
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
        return rows, rejected, why, len(data)

    # ------------------------------------------------------------------ the write-ahead log
    def _log_loop(self) -> None:
        """Group commit: write every body waiting now, fsync once, queue their rows, answer."""
        assert self._wal is not None
        while True:
            with self._log_cond:
                while not self._to_log and not self._log_closing:
                    self._log_cond.wait(0.5)
                group, self._to_log = self._to_log, []
            if not group:
                return
            err: str | None = None
            try:
                seq = self._wal.append([g[0] for g in group])
                self.stats.wal_syncs += 1
            except Exception as e:
                err = f"the write-ahead log cannot be written ({type(e).__name__}: {e}); retry later"
                log.error("llmops_nb collector: %s", err)
            with self._cond:
                for _, rows, _ in group:
                    if err is None:
                        self._queue.append(_Batch(rows, seq))
                    else:
                        self._pending -= len(rows)
                self.stats.queued = self._pending
                self._cond.notify_all()
            for _, _, (loop, fut) in group:
                with contextlib.suppress(RuntimeError):  # a stopped server: nobody waits for the answer
                    loop.call_soon_threadsafe(_resolve, fut, err)

    # ------------------------------------------------------------------ writing
    def _write_loop(self) -> None:
        for d, _lock in list(self._orphans):
            self._replay(d)
        while True:
            with self._cond:
                first_wait = time.monotonic()
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                    first_wait = time.monotonic()
                if not self._queue and self._stopping:
                    return
                # gather for up to flush_interval or until a full batch
                while (not self._stopping and sum(len(b.rows) for b in self._queue) < self.batch_spans
                       and time.monotonic() - first_wait < self.flush_interval_s):
                    self._cond.wait(self.flush_interval_s - (time.monotonic() - first_wait))
                batches: list[_Batch] = []
                n = 0
                while self._queue and n < self.batch_spans:
                    b = self._queue.popleft()
                    batches.append(b)
                    n += len(b.rows)
            rows = [r for b in batches for r in b.rows]
            if not self._write_rows(rows):
                with self._cond:  # abandoned at stop: the rows stay in the log
                    self._queue.extendleft(reversed(batches))
                return
            assert self._wal is not None
            done: dict[int, int] = {}
            for b in batches:
                done[b.seq] = done.get(b.seq, 0) + 1
            for seq, k in done.items():
                self._wal.release(seq, k)
            with self._cond:
                self._pending -= n
                self.stats.queued = self._pending
                self._cond.notify_all()

    def _write_rows(self, rows: list[dict[str, Any]]) -> bool:
        """Write rows, retrying until the store takes them (idempotent: the store skips spans it
        already holds). While it refuses, requests are answered 503. False if abandoned at stop."""
        attempt = 0
        while True:
            try:
                self.store.add("spans", rows_to_arrow(rows))
            except Exception as e:
                self.stats.last_error = f"store write failed: {type(e).__name__}: {e}"
                self.stats.store_failing = True
                log.warning("llmops_nb collector: could not write %d spans (attempt %d, retrying; requests are "
                            "answered 503 meanwhile): %s", len(rows), attempt + 1, e)
                with self._cond:
                    if self._abandon:
                        return False
                    self._cond.wait(min(0.1 * 2**attempt, 2.0))
                    if self._abandon:
                        return False
                attempt += 1
                continue
            self.stats.store_failing = False
            self.stats.stored += len(rows)
            self.stats.batches_written += 1
            return True

    def _replay(self, d: Path) -> None:
        """Write the spans of a dead receiver's log into the store, then remove the log."""
        import shutil

        for seg in sorted(d.glob("*.wal")):
            rows: list[dict[str, Any]] = []
            ok = True
            for rec in read_segment(seg):
                try:
                    rows.extend(self._parse(rec.enc, rec.coding, rec.body, limit=max(rec.decoded_size, self.max_body_bytes))[0])
                except _BadRequest as e:  # pragma: no cover - only parsed bodies are logged
                    log.error("llmops_nb collector: a logged body in %s cannot be read again (%s); kept", seg, e.message)
                    ok = False
                if len(rows) >= self.batch_spans:
                    if not self._write_rows(rows):
                        return
                    self.stats.replayed += len(rows)
                    rows = []
            if rows:
                if not self._write_rows(rows):
                    return
                self.stats.replayed += len(rows)
            if ok:
                seg.unlink()
            else:  # pragma: no cover
                seg.rename(seg.with_suffix(".unreadable"))
        if not any(d.glob("*.wal")) and not any(d.glob("*.unreadable")):
            shutil.rmtree(d, ignore_errors=True)
        log.info("llmops_nb collector: replayed the write-ahead log %s", d)
        with self._cond:
            self._cond.notify_all()


def _redacted(redaction: Any, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bytes]:
    """Rows with PII replaced, and the same rows as an Arrow IPC stream (what the log keeps)."""
    import pyarrow as pa

    from llmops_nb.schema import SPANS, from_arrow, to_arrow

    frame = redaction.frame(from_arrow(rows_to_arrow(rows), SPANS))
    table = to_arrow(frame, SPANS)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return frame.to_dict("records"), sink.getvalue().to_pybytes()


def _resolve(fut: asyncio.Future[Any], err: str | None) -> None:
    if not fut.done():
        fut.set_result(err)


async def _drop(request: Any, resp: Any) -> Any:
    """Send ``resp``, then close the connection at once (no lingering read of the unread body)."""
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return resp


def _closing(resp: Any) -> Any:
    """Close the connection after this answer (the body may not have been read)."""
    resp.force_close()
    return resp


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
