"""OTel Collector ClickHouse exporter rows (otel_traces) read from Parquet, CSV and a DataFrame.

The rows follow the exporter's default table (opentelemetry-collector-contrib
exporter/clickhouseexporter): Timestamp DateTime64(9), TraceId, SpanId, ParentSpanId, TraceState,
SpanName, SpanKind, ServiceName, ResourceAttributes Map(String,String), ScopeName, ScopeVersion,
SpanAttributes Map(String,String), Duration (ns), StatusCode, StatusMessage, Events.Timestamp,
Events.Name, Events.Attributes, Links.*."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import llmops_nb as lo

T = "5b8efff798038103d269b633813fc60c"
MSGS = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}])
OUT = json.dumps([{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "get_weather",
                                                   "arguments": {"city": "Paris"}}]}])
ROWS = [
    {"Timestamp": "2025-03-01 10:00:00.000000000", "TraceId": T, "SpanId": "00f067aa0ba902b7", "ParentSpanId": "",
     "TraceState": "", "SpanName": "agent run", "SpanKind": "Internal", "ServiceName": "weather-bot",
     "ResourceAttributes": {"service.name": "weather-bot", "telemetry.sdk.language": "python"},
     "ScopeName": "openinference.instrumentation.langchain", "ScopeVersion": "0.1.0",
     "SpanAttributes": {"openinference.span.kind": "AGENT", "input.value": "Weather in Paris?", "session.id": "s-1"},
     "Duration": 2_500_000_000, "StatusCode": "Ok", "StatusMessage": "",
     "Events.Timestamp": [], "Events.Name": [], "Events.Attributes": []},
    {"Timestamp": "2025-03-01 10:00:00.100000000", "TraceId": T, "SpanId": "eee19b7ec3c1b174",
     "ParentSpanId": "00f067aa0ba902b7", "TraceState": "", "SpanName": "chat gpt-4o-mini", "SpanKind": "Client",
     "ServiceName": "weather-bot", "ResourceAttributes": {"service.name": "weather-bot"},
     "ScopeName": "opentelemetry.instrumentation.openai_v2", "ScopeVersion": "2.1b0",
     "SpanAttributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.usage.input_tokens": "21", "gen_ai.usage.output_tokens": "9",
                        "gen_ai.input.messages": MSGS, "gen_ai.output.messages": OUT, "server.address": "api.openai.com"},
     "Duration": 800_000_000, "StatusCode": "Ok", "StatusMessage": "",
     "Events.Timestamp": [], "Events.Name": [], "Events.Attributes": []},
    {"Timestamp": "2025-03-01 10:00:01.000000000", "TraceId": T, "SpanId": "53995c3f42cd8ad8",
     "ParentSpanId": "00f067aa0ba902b7", "TraceState": "", "SpanName": "execute_tool get_weather", "SpanKind": "Internal",
     "ServiceName": "weather-bot", "ResourceAttributes": {"service.name": "weather-bot"}, "ScopeName": "app",
     "ScopeVersion": "", "SpanAttributes": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
     "Duration": 300_000_000, "StatusCode": "Error", "StatusMessage": "upstream timeout",
     "Events.Timestamp": ["2025-03-01 10:00:01.250000000"], "Events.Name": ["exception"],
     "Events.Attributes": [{"exception.type": "TimeoutError", "exception.message": "upstream timeout"}]},
]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS)


def _parquet(path) -> None:
    m = pa.map_(pa.string(), pa.string())
    schema = pa.schema([
        ("Timestamp", pa.timestamp("ns")), ("TraceId", pa.string()), ("SpanId", pa.string()),
        ("ParentSpanId", pa.string()), ("TraceState", pa.string()), ("SpanName", pa.string()), ("SpanKind", pa.string()),
        ("ServiceName", pa.string()), ("ResourceAttributes", m), ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()), ("SpanAttributes", m), ("Duration", pa.uint64()), ("StatusCode", pa.string()),
        ("StatusMessage", pa.string()), ("Events.Timestamp", pa.list_(pa.timestamp("ns"))),
        ("Events.Name", pa.list_(pa.string())), ("Events.Attributes", pa.list_(m)),
    ])
    data = {f.name: [] for f in schema}
    for r in ROWS:
        for f in schema:
            v = r[f.name]
            if f.name == "Timestamp":
                v = pd.Timestamp(v)
            elif f.name == "Events.Timestamp":
                v = [pd.Timestamp(x) for x in v]
            elif isinstance(v, dict):
                v = list(v.items())
            elif f.name == "Events.Attributes":
                v = [list(x.items()) for x in v]
            data[f.name].append(v)
    pq.write_table(pa.table(data, schema=schema), path)


def _ch_text(v) -> str:
    """A value as ClickHouse writes it in CSV: maps {'k':'v'}, arrays ['a'], quotes escaped."""
    def q(s):
        return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, dict):
        return "{" + ",".join(f"{q(k)}:{q(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_ch_text(x) if isinstance(x, dict) else q(x) for x in v) + "]"
    return str(v)


def _csv(path) -> None:
    pd.DataFrame([{k: _ch_text(v) for k, v in r.items()} for r in ROWS]).to_csv(path, index=False)


def _check(df: pd.DataFrame) -> None:
    assert set(df["source_format"]) == {"clickhouse"}
    df = df.set_index("span_id")
    root, llm, tool = df.loc["00f067aa0ba902b7"], df.loc["eee19b7ec3c1b174"], df.loc["53995c3f42cd8ad8"]
    assert (root["kind"], llm["kind"], tool["kind"]) == ("agent", "llm", "tool")
    assert root["parent_span_id"] is None and llm["parent_span_id"] == tool["parent_span_id"] == "00f067aa0ba902b7"
    assert set(df["trace_id"]) == {T}
    assert (llm["model"], llm["prompt_tokens"], llm["completion_tokens"], llm["total_tokens"]) == ("gpt-4o-mini", 21, 9, 30)
    assert llm["input_messages"][0]["content"] == "Weather in Paris?"
    call = llm["output_messages"][0]["tool_calls"][0]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Paris"})
    assert root["latency_ms"] == 2500.0 and llm["latency_ms"] == 800.0
    assert str(llm["start_time"]) == "2025-03-01 10:00:00.100000+00:00"
    assert tool["status"] == "error" and tool["error_message"] == "upstream timeout" and tool["tool_name"] == "get_weather"
    assert root["session_id"] == "s-1" and root["input_text"] == "Weather in Paris?"
    assert llm["attributes"]["otel.scope.name"] == "opentelemetry.instrumentation.openai_v2"
    assert llm["attributes"]["server.address"] == "api.openai.com"


def test_clickhouse_rows_from_a_dataframe_parquet_and_csv(tmp_path):
    _check(lo.read_traces(_frame()))
    _parquet(tmp_path / "otel_traces.parquet")
    _check(lo.read_traces(tmp_path / "otel_traces.parquet"))
    _csv(tmp_path / "otel_traces.csv")
    _check(lo.read_traces(tmp_path / "otel_traces.csv"))
    frames = [lo.read_traces(x, estimate_cost=False).sort_values("span_id").reset_index(drop=True)
              for x in (_frame(), tmp_path / "otel_traces.parquet", tmp_path / "otel_traces.csv")]
    cols = ["trace_id", "span_id", "parent_span_id", "kind", "status", "model", "prompt_tokens", "start_time",
            "end_time", "input_text", "output_text", "tool_name", "error_message"]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(f[cols], frames[0][cols])
