"""``llmops-nb collect``: serve OTLP/HTTP ``POST /v1/traces`` into the store until stopped."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "collect",
        help="receive OTLP/HTTP traces (protobuf or JSON) into the store",
        description="Serve OTLP/HTTP POST /v1/traces into the store. Point any OpenTelemetry SDK at it, "
        "for example OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces. Stop with Ctrl-C.",
    )
    p.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    p.add_argument("--port", type=int, default=4318, help="port to listen on (default 4318, 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body, decompressed (MB)")
    p.add_argument("--max-queue-spans", type=int, default=100_000, help="spans queued before answering 503")
    p.add_argument("--workers", type=int, default=None,
                   help="processes that map protobuf bodies into spans in the background (default: one per core, "
                        "at most 4; 0 maps in the receiver process)")
    p.add_argument("--read-timeout", type=float, default=15.0,
                   help="seconds a client has to send its whole body (a stalled client gets 408, then is dropped)")
    p.add_argument("--flush-interval", type=float, default=1.0, help="seconds between store writes under load")
    p.add_argument("--batch-spans", type=int, default=50_000,
                   help="most spans per store write (one Parquet segment); a full batch is written at once")
    p.add_argument("--quiet", action="store_true", help="print only the start and final lines")
    p.add_argument("--redact", default=None, choices=["pii", "pii+names"],
                   help="replace PII before anything is written (kept in the store: every later writer redacts too)")
    p.set_defaults(func=_collect)


def _collect(args: argparse.Namespace) -> int:
    from llmops_nb.store import Store
    from llmops_nb.tracing._collector import Collector

    col = Collector(
        Store(args.store, redact=args.redact), host=args.host, port=args.port, max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        max_queue_spans=args.max_queue_spans, flush_interval_s=args.flush_interval, read_timeout_s=args.read_timeout,
        batch_spans=args.batch_spans, workers=min(4, os.cpu_count() or 1) if args.workers is None else args.workers,
    )
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    # before announcing the endpoint: a stop signal sent as soon as it is announced must drain too
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    col.start()
    print(f"llmops-nb collect: listening on {col.endpoint} (protobuf and JSON), writing to {col.store.path}", flush=True)
    last = -1
    while not done.wait(5.0):
        s = col.stats
        if not args.quiet and s.stored != last:
            print(f"  accepted {s.accepted:,} spans, stored {s.stored:,}, rejected {s.rejected:,}, "
                  f"queued {s.queued:,}, malformed requests {s.malformed_requests:,}, busy {s.busy_requests:,}", flush=True)
            last = s.stored
    col.stop()
    s = col.stats
    print(f"llmops-nb collect: stopped; stored {s.stored:,} spans ({s.replayed:,} of them replayed from the "
          f"write-ahead log; {s.rejected:,} rejected, {s.malformed_requests:,} malformed requests, "
          f"{s.write_errors:,} spans not yet written, kept in the write-ahead log)", flush=True)
    return 0 if s.write_errors == 0 else 1
