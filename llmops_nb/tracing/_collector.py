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

The request path maps no span: a protobuf body is decoded only to check and count its ids (what
the 200 and its ``partial_success`` need), logged, and answered. Mapping happens behind it, in
``workers`` processes (``llmops-nb collect`` starts one per core, at most 4; ``workers=0`` maps in
a thread of the receiver) with :func:`llmops_nb.loaders.otlp.map_otlp_proto`, column by column
into Arrow, the same mapping as the file loaders. A worker is told where each body is in the log
and reads it there (no body is copied from process to process), and hands the spans back as an
Arrow file in the log's folder that the receiver maps into memory without a copy. A writer thread
writes the mapped spans in big batches (``batch_spans``, one store segment each). ``/health``
counts the CPU time of each stage (``cpu_s``). JSON bodies, and every body when the store
redacts PII, are mapped before they are logged (the log never holds raw PII). ``stop()`` stops
accepting, then writes everything queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
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
from llmops_nb.tracing._wal import (
    Wal,
    WalRecord,
    orphan_logs,
    read_body,
    read_segment,
    wal_root,
)

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
    unmapped: int = 0
    batches_written: int = 0
    wal_syncs: int = 0
    store_failing: bool = False
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent so far by each stage: ``http`` (the event loop: requests, bodies,
    answers, and the check of a protobuf body up to 1 MB), ``check`` (decoding a bigger or compressed
    body, or a JSON one, beside the event loop to check and count its spans), ``wal`` (log writes and
    fsyncs), ``dispatch`` (handing bodies to the mapping and taking the spans back), ``read``,
    ``map``, ``arrow``, ``hand_back`` (in the mapping: reading bodies from the log, mapping them,
    building Arrow, writing the spans for the receiver) and ``store`` (store writes)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Batch:
    """One acknowledged body and the log segment holding it: either its spans already mapped
    (``table``: JSON bodies, redacted rows) or where the body is in the log (``ref``: protobuf
    bodies, mapped in the background by a worker that reads the body from the log itself, so the
    request path never maps a span and no body is copied from process to process)."""

    __slots__ = ("kind", "n", "ref", "seq", "table")

    def __init__(self, n: int, seq: int, table: Any = None, kind: tuple[str, str, int] | None = None) -> None:
        self.n = n
        self.seq = seq
        self.table = table
        self.kind = kind  # (encoding, content coding, decoded size) of a body to map
        self.ref: _Ref | None = None  # set once the body is in the log


_Ref = tuple[str, int, int, str, str, int]  # (log segment, body offset, body length, encoding, coding, decoded size)


class _Mapped:
    """Bodies being mapped (a future of ``(table, rejected, why)``), written in arrival order."""

    __slots__ = ("batches", "future", "n")

    def __init__(self, batches: list[_Batch], future: concurrent.futures.Future[Any]) -> None:
        self.batches = batches
        self.future = future
        self.n = sum(b.n for b in batches)


class Collector:
    """Receive OTLP/HTTP traces (``POST /v1/traces``) from any OpenTelemetry SDK into a store.

    ``port=0`` picks a free port (see ``url`` after ``start()``). Use it as a context manager,
    or ``start()`` / ``stop()``. ``stop()`` stops accepting, then writes everything queued.
    A 200 means the spans are durable: they are in the write-ahead log under
    ``<store>/collector/wal/`` and reach the store even if this process is killed (the next
    receiver started on the store replays the log). While the store cannot be written the
    receiver answers 503 with ``Retry-After``, and the exporters retry. ``workers=N`` maps
    protobuf bodies in N background processes (0: in a thread of this process); spans are
    written ``batch_spans`` at a time, or every ``flush_interval_s``.
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
        max_queue_spans: int = 100_000,
        max_inflight: int = 8,
        max_reading_bytes: int = 256 * 1024 * 1024,
        read_timeout_s: float = 15.0,
        batch_spans: int = 50_000,
        flush_interval_s: float = 1.0,
        retry_after_s: int = 1,
        wal_dir: str | Path | None = None,
        workers: int = 0,
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
        self.workers = workers
        self.stats = CollectorStats()
        self._queue: deque[_Batch] = deque()  # acknowledged, not yet handed to the mapping stage
        self._mapped: deque[_Mapped] = deque()  # being mapped or mapped, in arrival order
        self._mapped_n = 0  # spans in self._mapped
        self._mapping_done = False
        self._procs: concurrent.futures.ProcessPoolExecutor | None = None
        self._mapper: threading.Thread | None = None
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
        self._to_log: list[tuple[tuple[bytes, bytes], _Batch, Any]] = []
        self._log_cond = threading.Condition()
        self._reading_bytes = 0
        self._worker_cpu: dict[str, float] = {}
        self._thread_cpu: dict[int, float] = {}
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
        if self.workers > 0:
            import multiprocessing

            self._procs = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init, initargs=(os.getpid(),))
        self._mapping_done = False
        self._mapper = threading.Thread(target=self._map_loop, name="llmops-collect-map", daemon=True)
        self._mapper.start()
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
        if self._procs is not None:
            self._procs.shutdown(wait=True, cancel_futures=True)
            self._procs = None
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
        if self._mapper is not None:
            self._mapper.join(timeout)
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

        self.cpu_by_stage()
        return web.json_response({"status": "ok", **{k: v for k, v in self.stats.as_dict().items() if k != "last_error"}})

    def _full(self, extra: int = 0) -> bool:
        return self._pending + extra > self.max_queue_spans

    async def _read_body(self, request: Any) -> bytes:
        """The body, within the read deadline and the budget of bytes being received."""
        chunks: list[bytes] = []
        size = 0
        content = request.content
        # one timer for the whole body (not a wait_for, a task and a timer, per chunk): at the
        # deadline the body's stream fails, and the read waiting on it raises TimeoutError
        timer = asyncio.get_running_loop().call_later(self.read_timeout_s, _expire, content)
        try:
            while True:
                chunk = await content.readany()
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
            timer.cancel()
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
        redaction = getattr(self.store, "redaction", None)
        table: Any = None
        async with self._sem:
            try:
                if enc == "proto" and redaction is None:  # checked and counted only: mapped in the background
                    if coding in ("identity", "") and len(body) <= _INLINE_CHECK_BYTES:  # well under a millisecond:
                        n, rejected, why, decoded = _check_proto(coding, body, self.max_body_bytes)  # no thread hand-off
                    else:  # a big or compressed body is checked beside the event loop
                        n, rejected, why, decoded = await loop.run_in_executor(
                            self._pool, _check_proto, coding, body, self.max_body_bytes)
                else:
                    table, rejected, why, decoded = await loop.run_in_executor(
                        self._pool, _parse_table, enc, coding, body, self.max_body_bytes)
                    n = 0 if table is None else table.num_rows
            except _BadRequest as e:
                if e.status == 413:
                    self.stats.too_large_requests += 1
                else:
                    self.stats.malformed_requests += 1
                self.stats.last_error = e.message
                return _status_response(e.status, enc, _INVALID_ARGUMENT, e.message)
        if n:
            with self._cond:
                busy = self.stats.store_failing or self._stopping or (self._full(n) and self._pending > 0)
                if not busy:
                    self._pending += n
            if busy:
                return self._busy(enc)
            done: asyncio.Future[str | None] = loop.create_future()
            if redaction is not None:
                # the store redacts PII at ingest: the log holds the redacted rows, never the raw body
                table, ipc = await loop.run_in_executor(self._pool, _redacted, redaction, table)
                record = WalRecord("arrow", "identity", ipc, len(ipc)).parts()
            else:
                record = WalRecord(enc, coding, body, decoded).parts()
            batch = _Batch(n, 0, table=table, kind=None if table is not None else (enc, coding, decoded))
            del body  # the record holds it until it is logged; then a worker reads it there
            with self._log_cond:
                self._to_log.append((record, batch, (loop, done)))
                self._log_cond.notify()
            err = await asyncio.shield(done)
            if err is not None:
                return self._busy(enc, err)
        self.stats.accepted += n
        self.stats.rejected += rejected
        return _export_response(enc, rejected, why)

    def _busy(self, enc: str, why: str | None = None, close: bool = False) -> Any:
        self.stats.busy_requests += 1
        resp = _status_response(503, enc, _UNAVAILABLE, why or f"the write queue is full ({self._pending} spans); retry later")
        resp.headers["Retry-After"] = str(self.retry_after_s)
        return _closing(resp) if close else resp

    # ------------------------------------------------------------------ the write-ahead log
    def _log_loop(self) -> None:
        """Group commit: write every body waiting now, fsync once, queue them, answer."""
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
            else:
                path, at = str(self._wal.segment_path(seq)), self._wal.last_start
                for (head, body), batch, _ in group:
                    if batch.kind is not None:
                        batch.ref = (path, at + len(head), len(body), *batch.kind)
                    at += len(head) + len(body)
            with self._cond:
                for _, batch, _ in group:
                    if err is None:
                        batch.seq = seq
                        self._queue.append(batch)
                    else:
                        self._pending -= batch.n
                self.stats.queued = self._pending
                self._cond.notify_all()
            for _, _, (loop, fut) in group:
                with contextlib.suppress(RuntimeError):  # a stopped server: nobody waits for the answer
                    loop.call_soon_threadsafe(_resolve, fut, err)

    # ------------------------------------------------------------------ mapping
    def _map_loop(self) -> None:
        """Hand acknowledged bodies, in order, to the mapping (worker processes, or this thread
        when ``workers=0``); at most two chunks per worker are in flight."""
        inflight: set[concurrent.futures.Future[Any]] = set()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait(0.5)
                if not self._queue:
                    self._mapping_done = True
                    self._cond.notify_all()
                    return
                batches: list[_Batch] = []
                n = 0
                while self._queue and n < _MAP_CHUNK_SPANS:
                    b = self._queue.popleft()
                    batches.append(b)
                    n += b.n
            refs = [b.ref for b in batches if b.ref is not None]
            if not refs:
                fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
                fut.set_result((None, 0, None, 0, {}))
            else:
                fut = self._submit(refs)
                inflight.add(fut)
            with self._cond:
                self._mapped.append(_Mapped(batches, fut))
                self._mapped_n += n
                self._cond.notify_all()
            inflight = {f for f in inflight if not f.done()}
            if len(inflight) >= 2 * max(1, self.workers):
                concurrent.futures.wait(inflight, return_when=concurrent.futures.FIRST_COMPLETED)

    def _submit(self, refs: list[_Ref]) -> concurrent.futures.Future[Any]:
        """Map logged bodies in a worker process (it reads them from the log and hands the spans
        back through a file in the log's folder), or here at once without workers."""
        if self._procs is not None:
            assert self._wal is not None
            try:
                return self._procs.submit(_map_refs, refs, self.max_body_bytes, str(self._wal.dir / "mapped"))
            except Exception as e:  # a broken pool (a worker killed): map here from now on
                log.warning("llmops_nb collector: mapping workers unavailable (%s); mapping in the receiver", e)
                self._procs = None
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        fut.set_result(_map_refs(refs, self.max_body_bytes, None))
        return fut

    def _replayed(self, refs: list[_Ref]) -> tuple[Any, int, str | None, int]:
        table, rejected, why, bad, cpu = self._submit(refs).result()
        self._count_cpu(cpu)
        return _handed_back(table), rejected, why, bad

    def _count_cpu(self, cpu: Mapping[str, float]) -> None:
        with self._cond:
            for k, v in cpu.items():
                self._worker_cpu[k] = self._worker_cpu.get(k, 0.0) + v

    def cpu_by_stage(self) -> dict[str, float]:
        """CPU seconds spent so far by each stage of the receiver (see :attr:`CollectorStats.cpu_s`)."""
        threads = {"http": [self._thread], "wal": [self._syncer], "dispatch": [self._mapper], "store": [self._writer],
                   "check": list(getattr(self._pool, "_threads", ()))}
        manager = getattr(self._procs, "_executor_manager_thread", None)
        if manager is not None:
            threads["dispatch"].append(manager)
        for t in [t for ts in threads.values() for t in ts if t is not None and t.ident is not None]:
            with contextlib.suppress(OSError, ProcessLookupError, AttributeError):
                self._thread_cpu[t.ident] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))  # type: ignore[arg-type]
        out = {stage: sum(self._thread_cpu.get(t.ident, 0.0) for t in ts if t is not None and t.ident is not None)
               for stage, ts in threads.items()}
        with self._cond:
            out.update(self._worker_cpu)
        self.stats.cpu_s = out
        return out

    def _mapped_table(self, m: _Mapped) -> Any:
        """The spans of ``m`` as one Arrow table (None when it has none)."""
        try:
            table, _rejected, why, bad, cpu = m.future.result()
            table = _handed_back(table)
        except Exception as e:  # a worker died: map these bodies here
            log.warning("llmops_nb collector: a mapping worker failed (%s: %s); mapping here", type(e).__name__, e)
            table, _rejected, why, bad, cpu = _map_refs([b.ref for b in m.batches if b.ref is not None],
                                                        self.max_body_bytes, None)
        self._count_cpu(cpu)
        import pyarrow as pa

        tables = [b.table for b in m.batches if b.table is not None] + ([table] if table is not None else [])
        out = None if not tables else tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        got = 0 if out is None else out.num_rows
        if got < m.n:  # acknowledged spans the mapping could not turn into rows (a mapping bug)
            self.stats.unmapped += m.n - got
            self.stats.last_error = f"{m.n - got} acknowledged spans could not be mapped: {why}"
            log.error("llmops_nb collector: %s (%d unreadable bodies)", self.stats.last_error, bad)
        return out

    # ------------------------------------------------------------------ writing
    def _write_loop(self) -> None:
        for d, _lock in list(self._orphans):
            self._replay(d)
        while True:
            with self._cond:
                first_wait = time.monotonic()
                while not self._mapped and not self._mapping_done:
                    self._cond.wait(0.5)
                    first_wait = time.monotonic()
                if not self._mapped and self._mapping_done:
                    return
                # gather for up to flush_interval or until a full batch
                while (not self._stopping and self._mapped_n < self.batch_spans
                       and time.monotonic() - first_wait < self.flush_interval_s):
                    self._cond.wait(self.flush_interval_s - (time.monotonic() - first_wait))
                taken: list[_Mapped] = []
                n = 0
                while self._mapped and n < self.batch_spans:
                    m = self._mapped.popleft()
                    self._mapped_n -= m.n
                    taken.append(m)
                    n += m.n
            import pyarrow as pa

            tables = [t for t in (self._mapped_table(m) for m in taken) if t is not None]
            if tables and not self._write_table(pa.concat_tables(tables) if len(tables) > 1 else tables[0]):
                with self._cond:  # abandoned at stop: the spans stay in the log
                    self._mapped.extendleft(reversed(taken))
                    self._mapped_n += n
                return
            assert self._wal is not None
            done: dict[int, int] = {}
            for m in taken:
                for b in m.batches:
                    done[b.seq] = done.get(b.seq, 0) + 1
            for seq, k in done.items():
                self._wal.release(seq, k)
            with self._cond:
                self._pending -= n
                self.stats.queued = self._pending
                self._cond.notify_all()

    def _write_table(self, table: Any) -> bool:
        """Write spans, retrying until the store takes them (idempotent: the store skips spans it
        already holds). While it refuses, requests are answered 503. False if abandoned at stop."""
        attempt = 0
        while True:
            try:
                self.store.add("spans", table)
            except Exception as e:
                self.stats.last_error = f"store write failed: {type(e).__name__}: {e}"
                self.stats.store_failing = True
                log.warning("llmops_nb collector: could not write %d spans (attempt %d, retrying; requests are "
                            "answered 503 meanwhile): %s", table.num_rows, attempt + 1, e)
                with self._cond:
                    if self._abandon:
                        return False
                    self._cond.wait(min(0.1 * 2**attempt, 2.0))
                    if self._abandon:
                        return False
                attempt += 1
                continue
            self.stats.store_failing = False
            self.stats.stored += table.num_rows
            self.stats.batches_written += 1
            return True

    def _replay(self, d: Path) -> None:
        """Write the spans of a dead receiver's log into the store, then remove the log."""
        import shutil

        for seg in sorted(d.glob("*.wal")):
            refs = [(str(seg), r.offset, len(r.body), r.enc, r.coding, r.decoded_size) for r in read_segment(seg)]
            chunks = [refs[i:i + _REPLAY_CHUNK] for i in range(0, len(refs), _REPLAY_CHUNK)]
            ok = True
            for table, _rejected, why, bad in (self._replayed(c) for c in chunks):
                if bad:  # pragma: no cover - only parsed bodies are logged
                    log.error("llmops_nb collector: %d logged bodies in %s cannot be read again (%s); kept", bad, seg, why)
                    ok = False
                if table is not None:
                    if not self._write_table(table):
                        return
                    self.stats.replayed += table.num_rows
            if ok:
                seg.unlink()
            else:  # pragma: no cover
                seg.rename(seg.with_suffix(".unreadable"))
        if not any(d.glob("*.wal")) and not any(d.glob("*.unreadable")):
            shutil.rmtree(d, ignore_errors=True)
        log.info("llmops_nb collector: replayed the write-ahead log %s", d)
        with self._cond:
            self._cond.notify_all()


def _worker_init(parent: int) -> None:
    """In a mapping worker process: exit as soon as the receiver that started it is gone (even
    killed with SIGKILL), rather than wait forever for work."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="llmops-collect-parent-watch", daemon=True).start()
    from llmops_nb.loaders import otlp  # noqa: F401  imported once, before the first body

    gc.freeze()  # what the imports made is never garbage: later collections skip it


_INLINE_CHECK_BYTES = 1 << 20  # protobuf bodies up to this size (uncompressed) are checked on the event loop
_MAP_CHUNK_SPANS = 8192  # spans mapped per task (a worker process maps a few bodies at once)
_REPLAY_CHUNK = 32  # logged bodies mapped per task on replay


def _map_refs(refs: list[_Ref], limit: int, spool: str | None) -> tuple[Any, int, str | None, int, dict[str, float]]:
    """Map logged bodies, read from the log at their offsets: :func:`_map_records`'s
    ``(table, rejected, why, bad)`` and the CPU seconds of each stage. With ``spool`` (a folder;
    in a worker process) the table is written there as an Arrow IPC file and its path is handed
    back instead: the receiver maps the file (no copy, no unpickling of the spans)."""
    c0 = time.process_time()
    records = [(enc, coding, read_body(path, at, size), decoded) for path, at, size, enc, coding, decoded in refs]
    c1 = time.process_time()
    arrow0 = _CPU["arrow"]
    # in a worker process (spool) nothing but this task runs: the cyclic garbage collector is off
    # while it maps, so it does not walk the thousands of per-span objects alive meanwhile (~2.5 us
    # a span); they go by reference counting, and any cycle is collected once it is back on
    paused = spool is not None and gc.isenabled()
    if paused:
        gc.disable()
    try:
        table, rejected, why, bad = _map_records(records, limit)
    finally:
        if paused:
            gc.enable()
    del records
    c2 = time.process_time()
    out: Any = table
    if spool is not None and table is not None:
        import pyarrow as pa

        os.makedirs(spool, exist_ok=True)
        # one chunk per column (not one per body): written faster here, Parquet-encoded faster by the
        # receiver, more than paying for the copy
        table = table.combine_chunks()
        out = os.path.join(spool, f"{os.getpid()}-{time.monotonic_ns()}.arrow")
        with pa.OSFile(out, "wb") as f, pa.ipc.new_file(f, table.schema) as w:
            w.write_table(table)
    arrow = _CPU["arrow"] - arrow0
    cpu = {"read": c1 - c0, "map": c2 - c1 - arrow, "arrow": arrow, "hand_back": time.process_time() - c2}
    return out, rejected, why, bad, cpu


def _handed_back(table: Any) -> Any:
    """A worker's table: as is, or (a path) the Arrow IPC file it wrote, mapped into memory
    without a copy, and unlinked at once (the mapping keeps its pages until the spans are stored)."""
    if not isinstance(table, str):
        return table
    import pyarrow as pa

    try:
        with pa.memory_map(table) as src:
            return pa.ipc.open_file(src).read_all()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(table)


_TIMES_US = {"times_us": True}  # the mapping keeps times as microseconds; Arrow is built from them
_CPU = {"arrow": 0.0}  # CPU seconds in SpanColumns.to_arrow in this process (split out of the mapping)


def _check_proto(coding: str, body: bytes, limit: int) -> tuple[int, int, str | None, int]:
    """(spans with valid ids, spans rejected, why, decoded size) of a protobuf body, without
    mapping a span: what the 200 (and its ``partial_success``) needs. The mapping applies the
    same rule (:func:`_parse_body`), so the spans counted here are the spans it stores."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    data = _decompress(body, coding, limit)
    try:
        req = ExportTraceServiceRequest.FromString(data)
    except DecodeError as e:
        raise _BadRequest(400, f"malformed OTLP proto: not a valid OTLP protobuf message ({e})") from None
    n = rejected = 0
    why: str | None = None
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if len(sp.trace_id) == 16 and len(sp.span_id) == 8:
                    n += 1
                    continue
                if why is None:
                    tid, sid = sp.trace_id.hex() or None, sp.span_id.hex() or None
                    why = f"span {n + rejected} ({sp.name!r}) has an invalid trace_id {tid!r} or span_id {sid!r}"
                rejected += 1
    return n, rejected, why, len(data)


def _parse_body(enc: str, coding: str, body: bytes, limit: int) -> tuple[list[dict[str, Any]], int, str | None, int]:
    """(mapped rows, spans rejected, why, decoded size) of one request body."""
    from llmops_nb.loaders import LoadError
    from llmops_nb.loaders.otlp import iter_otlp_json, iter_otlp_proto, map_span

    data = _decompress(body, coding, limit)
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


def _parse_table(enc: str, coding: str, body: bytes, limit: int) -> tuple[Any, int, str | None, int]:
    """:func:`_parse_body` with the rows as an Arrow table (None when there are none)."""
    rows, rejected, why, decoded = _parse_body(enc, coding, body, limit)
    return (rows_to_arrow(rows) if rows else None), rejected, why, decoded


def _map_records(records: list[tuple[str, str, bytes, int]], limit: int) -> tuple[Any, int, str | None, int]:
    """Map logged bodies ``(enc, coding, body, decoded size)`` into one Arrow table of spans:
    ``(table or None, spans rejected, why, bodies that could not be read)``. Runs in the mapping
    worker processes (so it is a module function) or in the receiver."""
    import pyarrow as pa

    tables = []
    rows: list[dict[str, Any]] = []
    rejected = bad = 0
    why: str | None = None
    for enc, coding, body, decoded in records:
        if enc == "arrow":  # rows already mapped (and PII-redacted) before they were logged
            tables.append(_arrow_record(body))
            continue
        try:
            if enc == "proto":
                table, rej, w = _proto_table(_decompress(body, coding, max(limit, decoded)))
                if table is not None:
                    tables.append(table)
            else:
                r, rej, w, _ = _parse_body(enc, coding, body, max(limit, decoded))
                rows.extend(r)
        except _BadRequest as e:
            bad += 1
            why = why or e.message
            continue
        rejected += rej
        why = why or w
    if rows:
        tables.append(rows_to_arrow(rows))
    if not tables:
        return None, rejected, why, bad
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), rejected, why, bad


def _proto_table(data: bytes) -> tuple[Any, int, str | None]:
    """The spans of a protobuf ``ExportTraceServiceRequest`` as an Arrow table, mapped column by
    column (:func:`~llmops_nb.loaders.otlp.map_otlp_proto`): ``(table or None, rejected, why)``.
    Spans without a valid trace or span id are rejected, kinds and statuses kept valid and the
    latency derived, as :func:`_parse_body` does span by span (its rows, cell for cell)."""
    from llmops_nb.loaders.otlp import map_otlp_proto

    try:
        mapped = map_otlp_proto(data, _TIMES_US)
    except Exception:  # a shape the column-wise mapping does not take: span by span, with its errors
        rows, n_bad, reason, _ = _parse_body("proto", "identity", data, len(data))
        return (rows_to_arrow(rows) if rows else None), n_bad, reason
    cols = mapped.columns
    tids, sids, names = cols["trace_id"], cols["span_id"], cols["name"]
    keep = [isinstance(t, str) and isinstance(s, str) and _HEX32.match(t) is not None and _HEX16.match(s) is not None
            for t, s in zip(tids, sids)]
    rejected = keep.count(False)
    why: str | None = None
    if rejected:
        i = keep.index(False)
        why = f"span {i} ({names[i]!r}) has an invalid trace_id {tids[i]!r} or span_id {sids[i]!r}"
        cols = {k: [v for v, ok in zip(col, keep) if ok] for k, col in cols.items()}
    n = mapped.n - rejected
    if n == 0:
        return None, rejected, why
    if rejected:
        mapped = type(mapped)(cols, n, mapped.canonical, mapped.times_us)
    c = time.process_time()
    table = mapped.to_arrow()
    _CPU["arrow"] += time.process_time() - c
    return table, rejected, why


def _arrow_record(body: bytes) -> Any:
    """A logged Arrow IPC record (mapped, redacted rows) as a table with the spans schema."""
    import pyarrow as pa

    from llmops_nb.schema import SPANS

    table = pa.ipc.open_stream(body).read_all()
    return table if table.schema == SPANS.arrow_schema else table.select(SPANS.names).cast(SPANS.arrow_schema)


def _redacted(redaction: Any, table: Any) -> tuple[Any, bytes]:
    """Spans with PII replaced, and the same spans as an Arrow IPC stream (what the log keeps)."""
    import pyarrow as pa

    from llmops_nb.schema import SPANS, from_arrow, to_arrow

    table = to_arrow(redaction.frame(from_arrow(table, SPANS)), SPANS)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return table, sink.getvalue().to_pybytes()


def _expire(content: Any) -> None:
    """The read deadline of a body passed: its next (or pending) read raises TimeoutError."""
    content.set_exception(asyncio.TimeoutError("the body was not received in time"))


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
