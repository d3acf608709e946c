"""Producer-side helpers (run inside a producer's own venv: standard library + the producer's
packages only, never llmops_nb). A producer script writes ``truth.json`` (the producer's own
objects: spans from its in-memory exporter or API objects, the tools the program ran, the error
it met, package versions) and its exported payload files under ``payload/``.

Environment: ``FAKE_LLM_URL`` (the fake server's ``/v1`` base), ``OUT_DIR``, and for OTLP
producers optionally ``OTLP_ENDPOINT`` (an ``llmops-nb collect`` endpoint).
"""

from __future__ import annotations

import base64
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

URL = os.environ.get("FAKE_LLM_URL", "http://127.0.0.1:1/v1")
OUT = Path(os.environ.get("OUT_DIR", "."))
(OUT / "payload").mkdir(parents=True, exist_ok=True)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SYSTEM = "You are a weather assistant. Use the tools."
QUESTION = "What is the weather in Paris?"
DOCS = ["Paris is the capital of France.", "Paris has a temperate climate."]
WEATHER = "18C and sunny"


def get_weather(city: str) -> str:
    """The tool the agents call."""
    return f"{WEATHER} in {city}" if city != "Paris" else WEATHER


def versions(*pkgs: str) -> dict[str, str]:
    out = {}
    for p in pkgs:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "absent"
    return out


def write_truth(producer: str, pkgs: dict[str, str], spans: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
                errors: list[str] | None = None, notes: list[str] | None = None, **extra: Any) -> None:
    doc = {"producer": producer, "versions": pkgs, "main": next(iter(pkgs), None), "spans": spans, "tools": tools or [], "errors": errors or [],
           "notes": notes or [], **extra}
    (OUT / "truth.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))


# ------------------------------------------------------------------------------ OpenTelemetry



def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return v


def otel_truth(span: Any) -> dict[str, Any]:
    """One ReadableSpan of the in-memory exporter as the truth records it."""
    ctx = span.get_span_context()
    parent = span.parent
    err = span.status.description or None
    events = [{"name": e.name, "time_ns": e.timestamp, "attributes": {k: _plain(v) for k, v in (e.attributes or {}).items()}}
              for e in span.events]
    if err is None and span.status.status_code.name == "ERROR":
        err = next((e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None)
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": {"UNSET": "unset", "OK": "ok", "ERROR": "error"}[span.status.status_code.name],
        "error": err,
        "otel_kind": None if span.kind.name == "INTERNAL" else f"SPAN_KIND_{span.kind.name}",
        "raw": {"attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()}, "events": events},
    }


def otlp_json(req: Any) -> dict[str, Any]:
    """An ExportTraceServiceRequest as OTLP/JSON per the OTLP specification (hex ids, integer
    enums), as the OpenTelemetry Collector's file exporter writes it."""
    from google.protobuf.json_format import MessageToDict

    doc = MessageToDict(req, use_integers_for_enums=True)

    def fix(o: Any) -> None:
        if isinstance(o, dict):
            for k in ("traceId", "spanId", "parentSpanId"):
                if isinstance(o.get(k), str):
                    o[k] = base64.b64decode(o[k]).hex()
            for v in o.values():
                fix(v)
        elif isinstance(o, list):
            for v in o:
                fix(v)

    fix(doc)
    return doc


class OTelSetup:
    """A TracerProvider with an in-memory exporter (the truth), an OTLP/HTTP exporter to
    ``OTLP_ENDPOINT`` when set, and the exporter's own protobuf encoding written to files."""

    def __init__(self, service: str = "conformance", logs: bool = False, install: bool = True) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.otlp = None
        if os.environ.get("OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.otlp = BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"]))
            self.provider.add_span_processor(self.otlp)
        if install:  # else the producer builds its own provider around ``processors()``
            trace.set_tracer_provider(self.provider)
        self.logger_provider = self.log_memory = None
        if logs:  # gen_ai events are log records on the legacy path of OpenTelemetry's GenAI instrumentations
            from opentelemetry._logs import set_logger_provider
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor

            self.log_memory = InMemoryLogExporter()
            self.logger_provider = LoggerProvider(resource=self.provider.resource)
            self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_memory))
            set_logger_provider(self.logger_provider)

    def processors(self) -> list[Any]:
        """The truth and OTLP processors, for producers that build their own TracerProvider."""
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        return [SimpleSpanProcessor(self.memory), *([self.otlp] if self.otlp is not None else [])]

    def finish(self, producer: str, pkgs: dict[str, str], **kw: Any) -> None:
        """Flush, write the payloads (protobuf bytes as the OTLP exporter sends them, and
        OTLP/JSON) and the truth."""
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self.provider.force_flush()
        spans = list(self.memory.get_finished_spans())
        req = encode_spans(spans)
        (OUT / "payload" / "spans.otlp.pb").write_bytes(req.SerializeToString())
        (OUT / "payload" / "spans.otlp.json").write_text(json.dumps(otlp_json(req)))
        pkgs = {**pkgs, **versions("opentelemetry-sdk")}
        truth = [otel_truth(s) for s in spans]
        if self.log_memory is not None:
            from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

            self.logger_provider.force_flush()
            logs = list(self.log_memory.get_finished_logs())
            if logs:
                lreq = encode_logs(logs)
                (OUT / "payload" / "logs.otlp.json").write_text(json.dumps(otlp_json(lreq)))
            by_span = {}
            for rec in logs:
                lr = getattr(rec, "log_record", rec)
                by_span.setdefault(format(lr.span_id or 0, "016x"), []).append(
                    {"event_name": getattr(lr, "event_name", None), "body": _plain(lr.body) if not isinstance(lr.body, dict) else lr.body,
                     "attributes": {k: _plain(v) for k, v in (lr.attributes or {}).items()}})
            for t in truth:
                if t["span_id"] in by_span:
                    t["raw"]["logs"] = by_span[t["span_id"]]
        write_truth(producer, pkgs, truth, **kw)
        self.provider.shutdown()
