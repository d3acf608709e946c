"""Registers the built-in formats. Each is a thin mapping onto the spans table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_nb.loaders import otlp, records
from llmops_nb.loaders._registry import Format, register_format
from llmops_nb.schema import SPANS

_SPAN_COLS = set(SPANS.names)


def _is_records(r: Any) -> bool:
    import pandas as pd

    if isinstance(r, pd.DataFrame):
        return {"trace_id", "span_id"} <= set(map(str, r.columns))
    return isinstance(r, Mapping) and "trace_id" in r and "span_id" in r


register_format(
    Format(
        "otlp_json",
        "OTLP/JSON traces export (resourceSpans/scopeSpans/spans; .json, .jsonl one export per line, .gz); "
        "OpenInference, gen_ai and Vercel AI SDK attributes",
        parse=otlp.map_otlp_json,
        detect=otlp.is_otlp_json,
        extensions=(".json", ".jsonl"),
        priority=100,
    )
)
register_format(
    Format(
        "otlp_logs_json",
        "OTLP/JSON logs export (resourceLogs): GenAI message events (gen_ai.user.message, gen_ai.choice, ...) "
        "merged into the spans with the same ids read from the traces files beside them",
        parse=otlp.parse_otlp_logs_json,
        detect=otlp.is_otlp_logs_json,
        extensions=(".json", ".jsonl"),
        priority=99,
    )
)
register_format(
    Format(
        "otlp_proto",
        "OTLP protobuf ExportTraceServiceRequest (.pb, .bin, .protobuf, .gz)",
        parse=otlp.map_otlp_proto,
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

from llmops_nb.loaders import datadog, langfuse, langsmith, mlflow, phoenix  # noqa: E402

register_format(
    Format(
        "langfuse",
        "Langfuse exports: {trace, observations} documents, lists and JSONL of them, observation lists",
        parse=langfuse.parse_langfuse,
        detect=langfuse.is_langfuse,
        extensions=(".json", ".jsonl"),
        priority=80,
        whole_file=False,
    )
)
register_format(
    Format(
        "langsmith",
        "LangSmith runs: run JSON/JSONL, lists of runs, post/patch ingest payloads",
        parse=langsmith.parse_langsmith,
        detect=langsmith.is_langsmith,
        extensions=(".json", ".jsonl"),
        priority=80,
        whole_file=True,
    )
)
register_format(
    Format(
        "datadog",
        "Datadog LLM Observability span events (intake payloads, span lists, JSONL, VCR cassettes .yaml)",
        parse=datadog.parse_datadog,
        detect=datadog.is_datadog,
        extensions=(".json", ".jsonl", ".yaml", ".yml"),
        priority=70,
        whole_file=True,
    )
)
register_format(
    Format(
        "mlflow",
        "MLflow 3 trace JSON ({info, data: {spans}}), lists/JSONL of them, mlflow Trace objects, span dicts",
        parse=mlflow.parse_mlflow,
        detect=mlflow.is_mlflow,
        extensions=(".json", ".jsonl"),
        priority=75,
    )
)
register_format(
    Format(
        "phoenix",
        "Phoenix spans: get_spans_dataframe()/query_spans() DataFrames, Parquet of them, span dicts",
        parse=phoenix.parse_phoenix,
        detect=phoenix.is_phoenix,
        extensions=(".parquet", ".json", ".jsonl"),
        priority=60,
        whole_file=True,
    )
)

from llmops_nb.loaders import presets, sdk_spans  # noqa: E402


def _tau_bench_via_records(record: Any, ctx: dict[str, Any]) -> Any:
    """tau-bench is a preset of the generic records loader: an ``explode`` mapping."""
    if isinstance(record, list):  # each trajectory fails, or is skipped, alone
        from llmops_nb.loaders._common import per_record

        return [r for i, rec in enumerate(record)
                for r in per_record(ctx, f"item {i}", _tau_bench_via_records, rec, {**ctx, "skip": None}) or []]
    return list(records.parse_records(record, {**ctx, "options": {"explode": presets.parse_tau_bench}}))


register_format(
    Format(
        "openinference_json",
        "A span's flat attribute object (OpenInference or gen_ai keys), single or in a list; ids from the "
        "record or a content hash",
        parse=sdk_spans.parse_openinference_json,
        detect=sdk_spans.is_openinference_json,
        extensions=(".json", ".jsonl"),
        priority=-10,
    )
)
register_format(
    Format(
        "any_agent",
        "any-agent traces ({spans, final_output}) and Python OTel SDK span JSON (decimal, hex or 0x ids)",
        parse=sdk_spans.parse_any_agent,
        detect=sdk_spans.is_any_agent,
        extensions=(".json", ".jsonl"),
        priority=50,
        whole_file=True,
    )
)
register_format(
    Format(
        "vercel",
        "Vercel AI SDK / OTel JS SDK span JSON (spanContext, [sec, nanos] times, ai.* attributes)",
        parse=sdk_spans.parse_vercel,
        detect=sdk_spans.is_vercel,
        extensions=(".json", ".jsonl"),
        priority=50,
        whole_file=True,
    )
)
register_format(
    Format(
        "tau_bench",
        "tau-bench trajectories (records preset): one trace per trajectory, a tool span per tool call, "
        "reward in metadata",
        parse=_tau_bench_via_records,
        detect=presets.is_tau_bench,
        extensions=(".json",),
        priority=40,
        whole_file=True,
    )
)
register_format(
    Format(
        "openai_chat",
        "OpenAI-style chat logs: JSONL of request/response pairs (also Batch API output lines)",
        parse=presets.parse_openai_chat,
        detect=presets.is_openai_chat,
        extensions=(".jsonl", ".json"),
        priority=30,
    )
)

from llmops_nb.loaders import inspect_logs  # noqa: E402

register_format(
    Format(
        "inspect",
        "Inspect AI eval logs (.eval zip and .json; events or older sample.transcript.events): one trace per sample, "
        "chain spans from span_begin events, llm and tool spans from model and tool events, scores in metadata",
        parse=inspect_logs.parse_inspect,
        detect=inspect_logs.is_inspect,
        read_file=inspect_logs.read_eval_file,
        sniff=inspect_logs.sniff_eval_file,
        extensions=(".eval",),
        priority=45,
        whole_file=True,
    )
)

from llmops_nb.loaders import http_logs, platforms, trajectories  # noqa: E402

# whole_file: the format's records are lists (they must not be split item by item); the others read
# one object each, so a file holding a list of them is read item by item
_WHOLE = {"openhands", "claude_agent_sdk", "mastra", "datadog_apm", "http_log"}
for _name, _desc, _parse, _detect, _ext, _prio in (
    ("atif", "Harbor ATIF agent trajectories (schema_version ATIF-v1.x): root with final_metrics, an llm span per "
     "agent step, a tool span per tool call", trajectories.parse_atif, trajectories.is_atif, (".json",), 44),
    ("swe_agent", "SWE-agent .traj trajectories: root with info.model_stats, a span per step (llm when the run called "
     "a model), a tool span per action", trajectories.parse_swe_agent, trajectories.is_swe_agent, (".traj", ".json"), 43),
    ("openhands", "OpenHands event streams: an llm span per distinct LiteLLM response (deduplicated across action "
     "and observation), a tool span per tool action", trajectories.parse_openhands, trajectories.is_openhands, (".json",), 42),
    ("claude_agent_sdk", "Claude Agent SDK / Claude Code stream-json message logs: an llm span per assistant message "
     "id, tool spans, subagents under their Task tool, result.modelUsage totals on the root",
     trajectories.parse_claude_agent_sdk, trajectories.is_claude_agent_sdk, (".json", ".yaml"), 41),
    ("google_adk", "Google ADK sessions: an agent span per invocation, llm spans from event_logs or model events "
     "(Gemini parts, usage_metadata), tool spans from function_call/function_response",
     trajectories.parse_google_adk, trajectories.is_google_adk, (".json",), 41),
    ("mastra", "Mastra AI-tracing span trees or lists (agent_run, model_generation, model_step, tool_call, workflow_*)",
     platforms.parse_mastra, platforms.is_mastra, (".json",), 46),
    ("langwatch", "LangWatch span records {scopeName, spanName, attributes} (gen_ai.*, ai.*, Codex CLI codex.turn.*)",
     platforms.parse_langwatch, platforms.is_langwatch, (".json",), 46),
    ("litellm", "LiteLLM StandardLoggingPayload records (one logged call each; cost as LiteLLM computed it)",
     platforms.parse_litellm_payload, platforms.is_litellm_payload, (".json", ".jsonl"), 46),
    ("datadog_apm", "ddtrace APM snapshots ([[span, ...], ...]) of LLM integrations: _dd.llmobs.* kind, model, tokens",
     datadog.parse_datadog_apm, datadog.is_datadog_apm, (".json",), 69),
    ("http_log", "Recorded provider calls as chat logs: VCR cassettes (.yaml), HAR (.har), nock (.json), Responses "
     "stream events; OpenAI chat/Responses, Anthropic, Gemini/Vertex, Bedrock; gzip/brotli/base64 bodies, SSE streams",
     http_logs.parse_http_log, http_logs.is_http_log, (".yaml", ".yml", ".har", ".json"), 35),
):
    register_format(Format(_name, _desc, parse=_parse, detect=_detect, extensions=_ext, priority=_prio,
                           whole_file=_name in _WHOLE))

register_format(  # also Claude Code transcripts and stream-json output as JSONL (read whole)
    Format(
        "claude_agent_sdk",
        "Claude Agent SDK / Claude Code message logs ({messages: [...]}, lists, stream-json and transcript JSONL): an "
        "llm span per assistant message id, tool spans, subagents under their Task tool, result.modelUsage totals on the root",
        parse=trajectories.parse_claude_agent_sdk,
        detect=trajectories.is_claude_agent_sdk,
        read_file=trajectories.read_claude_jsonl,
        sniff=trajectories.sniff_claude_jsonl,
        extensions=(".jsonl", ".json", ".yaml"),
        priority=41,
        whole_file=True,
    ),
    replace=True,
)

register_format(
    Format(
        "anthropic_sessions",
        "Anthropic managed-agents session traffic as JSONL [sdk_method, payload] lines: an llm span per "
        "span.model_request_start/end pair, tool spans with their results",
        parse=trajectories.parse_anthropic_sessions,
        detect=trajectories.is_anthropic_sessions,
        read_file=trajectories.read_anthropic_sessions,
        sniff=trajectories.sniff_anthropic_sessions,
        extensions=(".jsonl",),
        priority=47,
        whole_file=True,
    )
)

from llmops_nb.loaders import openai_agents  # noqa: E402

register_format(
    Format(
        "openai_agents",
        "OpenAI Agents SDK traces: ingest payloads {data: [trace, trace.span items]}, item lists, JSONL of items",
        parse=openai_agents.parse_openai_agents,
        detect=openai_agents.is_openai_agents,
        extensions=(".json", ".jsonl"),
        priority=78,
        whole_file=True,
    )
)

from llmops_nb.loaders import clickhouse  # noqa: E402

register_format(
    Format(
        "clickhouse",
        "OpenTelemetry Collector ClickHouse exporter rows (otel_traces: TraceId, SpanId, SpanAttributes, Events.*) "
        "from Parquet, CSV, JSON lines or a DataFrame",
        parse=clickhouse.parse_clickhouse_row,
        detect=clickhouse.is_clickhouse_row,
        read_file=clickhouse.read_clickhouse_csv,
        sniff=clickhouse.sniff_clickhouse_csv,
        extensions=(".csv", ".tsv"),
        priority=65,
    )
)
