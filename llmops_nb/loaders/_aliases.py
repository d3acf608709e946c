"""The attribute names each convention has used for the same thing, in one auditable place.

Producers renamed keys across releases (tokens, cost, provider, messages, tool calls). One table
per convention lists, for each spans column it feeds, the keys in the order the loaders try them,
with where each key was seen: a producer version from ``make conformance`` (``conformance:``),
a file of ``../shared/fixtures`` (``fixture:``) or the convention's own specification (``spec:``).
The OTLP mapping (:func:`llmops_nb.loaders.otlp.map_span`, used by every OTel-based loader) reads
its keys from here through :func:`keys`.

Example:
    >>> keys("prompt_tokens")[:3]
    ('llm.token_count.prompt', 'gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens')
    >>> aliases_frame().query("key == 'gen_ai.system'")[["convention", "field"]].values.tolist()
    [['gen_ai', 'provider']]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["Alias", "ALIASES", "READ_ORDER", "keys", "aliases_frame"]


@dataclass(frozen=True)
class Alias:
    """One attribute key of a convention and where it was seen (versions, files, spec)."""

    key: str
    seen_in: str


A = Alias

ALIASES: dict[str, dict[str, tuple[Alias, ...]]] = {
    "openinference": {
        "model": (A("llm.model_name", "conformance: openinference-instrumentation-openai 0.1.66, -litellm 0.1.51, -langchain 0.1.80"),
                  A("embedding.model_name", "spec: openinference semantic conventions (embedding spans)")),
        "provider": (A("llm.provider", "conformance: openinference-instrumentation-openai 0.1.66; fixture: langfuse/llamaindex-2025-06-05.trace.json"),
                     A("llm.system", "fixture: langfuse/openai-agents-2025-09-30.trace.json, langfuse/llamaindex-2025-06-05.trace.json")),
        "input": (A("input.value", "conformance: every openinference instrumentor"),),
        "output": (A("output.value", "conformance: every openinference instrumentor"),),
        "prompt_tokens": (A("llm.token_count.prompt", "conformance: openinference-instrumentation-openai 0.1.66"),),
        "completion_tokens": (A("llm.token_count.completion", "conformance: openinference-instrumentation-openai 0.1.66"),),
        "total_tokens": (A("llm.token_count.total", "conformance: openinference-instrumentation-openai 0.1.66"),),
        "cost_usd": (A("llm.cost.total", "fixture: openinference/semantic_conventions.md"),),
        "session_id": (A("session.id", "spec: openinference semantic conventions"),),
        "user_id": (A("user.id", "spec: openinference semantic conventions"),),
        "tags": (A("tag.tags", "spec: openinference semantic conventions"),),
        "tool_name": (A("tool.name", "conformance: openinference-instrumentation 0.1.72 (OITracer.tool)"),
                      A("tool_call.function.name", "spec: openinference semantic conventions (tool call attributes on tool spans)")),
        # ``tool.parameters`` is the tool's parameter *definition* (a JSON schema, as OITracer.tool
        # writes it in openinference-instrumentation 0.1.72): never the arguments. Without
        # tool_call.function.arguments, a TOOL span's arguments are its input.value.
        "tool_arguments": (A("tool_call.function.arguments", "spec: openinference semantic conventions"),),
    },
    "gen_ai": {
        "model": (A("gen_ai.response.model", "conformance: opentelemetry-instrumentation-openai-v2 2.4b0"),
                  A("gen_ai.request.model", "conformance: opentelemetry-instrumentation-openai-v2 2.4b0")),
        "provider": (A("gen_ai.provider.name", "spec: semconv >= 1.37; fixture: openinference/genai/otel_genai_client_span_tool_calls.json"),
                     A("gen_ai.system", "spec: semconv <= 1.36; conformance: opentelemetry-instrumentation-openai-v2 2.4b0 (v1.30 path)")),
        "input": (A("gen_ai.prompt", "spec: semconv 1.26 (gen_ai.content.prompt event attribute), older OpenLLMetry"),
                  A("gen_ai.tool.call.arguments", "spec: semconv >= 1.37 (execute_tool spans)")),
        "output": (A("gen_ai.completion", "spec: semconv 1.26 (gen_ai.content.completion event attribute)"),
                   A("gen_ai.tool.call.result", "spec: semconv >= 1.37 (execute_tool spans)")),
        "prompt_tokens": (A("gen_ai.usage.input_tokens", "spec: semconv >= 1.27; fixture: langfuse/pydantic-ai-tools-2025-06-06.trace.json"),
                          A("gen_ai.usage.prompt_tokens", "spec: semconv <= 1.26; OpenLLMetry (traceloop-sdk)")),
        "completion_tokens": (A("gen_ai.usage.output_tokens", "spec: semconv >= 1.27"),
                              A("gen_ai.usage.completion_tokens", "spec: semconv <= 1.26; OpenLLMetry (traceloop-sdk)")),
        "total_tokens": (A("gen_ai.usage.total_tokens", "not in the spec; some SDKs (Langfuse-exported spans)"),),
        "cost_usd": (A("gen_ai.usage.cost", "not in the spec; written by some OTel bridges"),),
        "session_id": (A("gen_ai.conversation.id", "spec: semconv >= 1.37; fixture: langfuse/koog-2025-08-26.trace.json"),),
        "tool_name": (A("gen_ai.tool.name", "spec: semconv >= 1.27 (execute_tool spans)"),),
        "tool_arguments": (A("gen_ai.tool.call.arguments", "spec: semconv >= 1.37 (execute_tool spans)"),),
        "input_messages": (A("gen_ai.input.messages", "spec: semconv >= 1.37; conformance: opentelemetry-instrumentation-openai-v2 2.4b0 (latest experimental)"),
                           A("gen_ai.system_instructions", "spec: semconv >= 1.37"),
                           A("gen_ai.prompt.{i}.*", "OpenLLMetry (traceloop-sdk); fixture: langfuse/koog-2025-08-26.trace.json"),
                           A("event gen_ai.{system,user,assistant,tool}.message", "spec: semconv 1.27-1.36; conformance: opentelemetry-instrumentation-openai-v2 2.4b0 (v1.30 path, as OTLP log records)")),
        "output_messages": (A("gen_ai.output.messages", "spec: semconv >= 1.37"),
                            A("gen_ai.completion.{i}.*", "OpenLLMetry (traceloop-sdk)"),
                            A("event gen_ai.choice", "spec: semconv 1.27-1.36; conformance: opentelemetry-instrumentation-openai-v2 2.4b0 (v1.30 path)")),
    },
    "openllmetry": {
        "input": (A("traceloop.entity.input", "conformance: traceloop-sdk 0.62.4 (@task/@tool/@agent: {args, kwargs} JSON)"),),
        "output": (A("traceloop.entity.output", "conformance: traceloop-sdk 0.62.4"),),
        "tool_name": (A("traceloop.entity.name", "conformance: traceloop-sdk 0.62.4 (on tool spans)"),),
        "total_tokens": (A("llm.usage.total_tokens", "OpenLLMetry (traceloop-sdk) < 0.4x, SpanAttributes.LLM_USAGE_TOTAL_TOKENS"),),
    },
    "vercel": {
        "model": (A("ai.model.id", "fixture: openinference/vercel-v6/all-spans.json"), A("ai.response.model", "fixture: openinference/vercel-v6/all-spans.json")),
        "provider": (A("ai.model.provider", "fixture: openinference/vercel-v6/all-spans.json"),),
        "input": (A("ai.toolCall.args", "AI SDK <= 4"), A("ai.toolCall.input", "AI SDK >= 5")),
        "output": (A("ai.toolCall.result", "AI SDK <= 4"), A("ai.toolCall.output", "AI SDK >= 5")),
        "prompt_tokens": (A("ai.usage.inputTokens", "AI SDK >= 5; fixture: openinference/vercel-v6/all-spans.json"),
                          A("ai.usage.promptTokens", "AI SDK <= 4; fixture: langfuse/vercel-aisdk-2025-11-17.trace.json")),
        "completion_tokens": (A("ai.usage.outputTokens", "AI SDK >= 5"), A("ai.usage.completionTokens", "AI SDK <= 4")),
        "total_tokens": (A("ai.usage.totalTokens", "fixture: openinference/vercel-v6/all-spans.json"),),
        "session_id": (A("ai.telemetry.metadata.sessionId", "Langfuse's AI SDK guide"),),
        "user_id": (A("ai.telemetry.metadata.userId", "Langfuse's AI SDK guide"),),
        "tool_name": (A("ai.toolCall.name", "fixture: openinference/vercel-v6/all-spans.json"),),
    },
    "langfuse": {
        "model": (A("langfuse.observation.model.name", "conformance: langfuse 3.15.0"),),
        "input": (A("langfuse.observation.input", "conformance: langfuse 3.15.0 (@observe: {args, kwargs} JSON)"),),
        "output": (A("langfuse.observation.output", "conformance: langfuse 3.15.0"),),
        "prompt_tokens": (A("langfuse.observation.usage_details{input|prompt_tokens}", "conformance: langfuse 3.15.0 (JSON)"),),
        "completion_tokens": (A("langfuse.observation.usage_details{output|completion_tokens}", "conformance: langfuse 3.15.0 (JSON)"),),
        "cost_usd": (A("langfuse.observation.cost_details{total}", "conformance: langfuse 3.15.0 (JSON)"),),
        "session_id": (A("langfuse.session.id", "Langfuse OTel attribute mapping"),),
        "user_id": (A("langfuse.user.id", "Langfuse OTel attribute mapping"),),
        "tags": (A("langfuse.trace.tags", "Langfuse OTel attribute mapping"),),
    },
    "any_agent": {
        "cost_usd": (A("gen_ai.usage.input_cost + gen_ai.usage.output_cost", "fixture: any-agent/TINYAGENT_trace.json (any-agent's own keys)"),),
        "output": (A("gen_ai.output", "fixture: any-agent/AGNO_trace.json"),),
        "tool_arguments": (A("gen_ai.tool.args", "fixture: any-agent/LANGCHAIN_trace.json"),),
    },
    "llmops": {
        "cost_usd": (A("llmops.cost_usd", "llmops_nb capture"),),
        "user_id": (A("enduser.id", "spec: OTel general attributes"),),
    },
}
"""Per convention, per spans field, the keys in the order they are tried."""

READ_ORDER: tuple[str, ...] = ("openinference", "gen_ai", "openllmetry", "vercel", "langfuse", "llmops")
"""Conventions in the order :func:`keys` tries them (any_agent keys are rewritten by its loader first)."""


@cache
def keys(field: str) -> tuple[str, ...]:
    """Every plain attribute key feeding ``field``, conventions in :data:`READ_ORDER` (computed once per field:
    the table is constant; it is read for every span)."""
    out: list[str] = []
    for conv in READ_ORDER:
        for a in ALIASES[conv].get(field, ()):
            if not any(ch in a.key for ch in "{ *+") and a.key not in out:
                out.append(a.key)
    return tuple(out)


def aliases_frame() -> Any:
    """The whole table as a DataFrame (convention, field, key, seen_in), for a reader to audit.

    Example:
        >>> aliases_frame().columns.tolist()
        ['convention', 'field', 'key', 'seen_in']
    """
    import pandas as pd

    return pd.DataFrame([{"convention": conv, "field": f, "key": a.key, "seen_in": a.seen_in}
                         for conv, fields in ALIASES.items() for f, al in fields.items() for a in al])
