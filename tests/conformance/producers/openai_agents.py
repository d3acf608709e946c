"""The OpenAI Agents SDK's own tracing: its BackendSpanExporter posts the trace/span payloads to
a local ingest endpoint (``INGEST_URL``); a TracingProcessor keeps the SDK's span objects (the
truth).

The agents: a triage agent with an input guardrail hands off to a weather agent that calls
``get_weather`` (Responses API model: agent, guardrail, handoff, response, function spans); the
same weather agent on the Chat Completions model (generation spans); an agent whose model the
server refuses (an error).
"""

import asyncio
import json
import os

import _common as c
from agents import (  # noqa: E402
    Agent,
    GuardrailFunctionOutput,
    OpenAIChatCompletionsModel,
    Runner,
    add_trace_processor,
    function_tool,
    input_guardrail,
    set_default_openai_client,
    set_trace_processors,
    set_tracing_export_api_key,
)
from agents.tracing import TracingProcessor  # noqa: E402
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor  # noqa: E402
from openai import AsyncOpenAI, BadRequestError  # noqa: E402

client = AsyncOpenAI(base_url=c.URL, api_key="x", max_retries=0)
set_default_openai_client(client, use_for_tracing=False)
set_tracing_export_api_key("sk-conformance")
exporter = BackendSpanExporter(endpoint=os.environ["INGEST_URL"] + "/v1/traces/ingest", max_retries=1)
batch = BatchTraceProcessor(exporter, schedule_delay=60.0)


class Keep(TracingProcessor):
    """Keeps every finished span object (the truth)."""

    def __init__(self):
        self.spans, self.traces = [], []

    def on_trace_start(self, trace):
        pass

    def on_trace_end(self, trace):
        self.traces.append(trace.export())

    def on_span_start(self, span):
        pass

    def on_span_end(self, span):
        self.spans.append(span)

    def shutdown(self):
        pass

    def force_flush(self):
        pass


keep = Keep()
set_trace_processors([batch])
add_trace_processor(keep)
tools_log, errors = [], []


@function_tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    result = c.get_weather(city)
    tools_log.append({"name": "get_weather", "arguments": {"city": city}, "result": result})
    return result


@input_guardrail
async def on_topic(ctx, agent, user_input) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info={"on_topic": True}, tripwire_triggered=False)


weather = Agent(name="weather_agent", instructions=c.SYSTEM, tools=[get_weather], model="fake-model")
triage = Agent(name="triage_agent", instructions="Hand weather questions to the weather agent.", handoffs=[weather],
               input_guardrails=[on_topic], model="fake-model")
weather_chat = Agent(name="weather_agent_chat", instructions=c.SYSTEM, tools=[get_weather],
                     model=OpenAIChatCompletionsModel(model="fake-model", openai_client=client))
broken = Agent(name="broken_agent", instructions=c.SYSTEM, model="fake-error")


async def main():
    await Runner.run(triage, c.QUESTION)
    await Runner.run(weather_chat, c.QUESTION)
    try:
        await Runner.run(broken, c.QUESTION)
    except BadRequestError as e:
        errors.append(str(e))


asyncio.run(main())
batch.force_flush()


def truth(span):
    data = span.span_data
    exported = span.export() or {}
    err = span.error
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_id,
        "name": getattr(data, "name", None),
        "start": span.started_at,
        "end": span.ended_at,
        "status": "error" if err else "ok",
        "error": err.get("message") if err else None,
        "declared": ["openai_agents", data.type],
        "raw": exported,
        "objects": {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
                    for k in ("response", "input") if (v := getattr(data, k, None)) is not None},
    }


c.write_truth("openai_agents", c.versions("openai-agents", "openai"), [truth(s) for s in keep.spans], tools=tools_log,
              errors=errors, traces=keep.traces)
print(json.dumps({"spans": len(keep.spans)}))
