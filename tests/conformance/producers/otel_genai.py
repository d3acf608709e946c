"""OpenTelemetry's own GenAI instrumentation for OpenAI (``opentelemetry-instrumentation-openai-v2``)
with message content capture on, in one of its two conventions (``GENAI_CONVENTION``):

- ``events``: the default (semantic conventions v1.30): ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``;
  messages are log records (``gen_ai.user.message``, ``gen_ai.choice``...) tied to the span by
  its ids, exported as OTLP logs beside the spans;
- ``json``: ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` with
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only``: messages are JSON span
  attributes (``gen_ai.input.messages``, ``gen_ai.output.messages``).

The agent: a root span, an LLM call asking for ``get_weather``, a tool span (gen_ai
``execute_tool``, by hand: the instrumentation has no tool spans), a second call, a refused call.
"""

import json
import os

convention = os.environ.get("GENAI_CONVENTION", "json")
if convention == "json":
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
else:
    os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"

import _common as c  # noqa: E402
from _common import OTelSetup  # noqa: E402

setup = OTelSetup(f"otel-genai-{convention}", logs=True)

import openai  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

OpenAIInstrumentor().instrument(tracer_provider=setup.provider, logger_provider=setup.logger_provider)
tracer = setup.provider.get_tracer("conformance-agent")
client = openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0)
tools_log, errors = [], []

with tracer.start_as_current_span("invoke_agent weather", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                      "gen_ai.agent.name": "weather"}):
    messages = [{"role": "system", "content": c.SYSTEM}, {"role": "user", "content": c.QUESTION}]
    r1 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    with tracer.start_as_current_span("execute_tool get_weather", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.call.arguments": call.function.arguments}) as tool_span:
        result = c.get_weather(**args)
        tool_span.set_attribute("gen_ai.tool.call.result", result)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [r1.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}]
    client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    try:
        client.chat.completions.create(model="fake-error", messages=[{"role": "user", "content": c.QUESTION}])
    except openai.BadRequestError as e:
        errors.append(str(e))

setup.finish(f"otel_genai_{convention}", c.versions("opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai", "openai"),
             tools=tools_log, errors=errors, convention=convention)
