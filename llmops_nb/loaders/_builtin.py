"""Registers the built-in formats. Each is a thin mapping onto the spans table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_nb.loaders import otlp, records
from llmops_nb.loaders._registry import Format, register_format
from llmops_nb.schema import SPANS

_SPAN_COLS = set(SPANS.names)


def _is_records(r: Any) -> bool:
    return isinstance(r, Mapping) and "trace_id" in r and "span_id" in r and set(r) <= _SPAN_COLS | set(r)


register_format(
    Format(
        "otlp_json",
        "OTLP/JSON traces export (resourceSpans/scopeSpans/spans; .json, .jsonl one export per line, .gz); "
        "OpenInference, gen_ai and Vercel AI SDK attributes",
        parse=otlp.parse_otlp_json,
        detect=otlp.is_otlp_json,
        extensions=(".json", ".jsonl"),
        priority=100,
    )
)
register_format(
    Format(
        "otlp_proto",
        "OTLP protobuf ExportTraceServiceRequest (.pb, .bin, .protobuf, .gz)",
        parse=otlp.parse_otlp_proto,
        detect=otlp._is_proto,
        read_file=otlp._read_proto_file,
        extensions=(".pb", ".bin", ".protobuf"),
        priority=-100,
    )
)
register_format(
    Format(
        "records",
        "Generic records (JSON, JSONL, CSV, Parquet, DataFrame, datasets.Dataset) with spans column names "
        "or a declared mapping=",
        parse=records.parse_records,
        detect=_is_records,
        extensions=(".csv", ".parquet", ".jsonl", ".json"),
        priority=-50,
    )
)
