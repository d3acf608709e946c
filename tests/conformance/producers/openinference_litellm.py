"""OpenInference's LiteLLM instrumentor (``openinference-instrumentation-litellm``) over OTLP:
``litellm.completion`` with a tool call, a second call with the tool result, a refused call."""

import json

import _common as c
from _common import OTelSetup

setup = OTelSetup("openinference-litellm")

import litellm  # noqa: E402
from openinference.instrumentation import OITracer, TraceConfig  # noqa: E402
from openinference.instrumentation.litellm import LiteLLMInstrumentor  # noqa: E402

LiteLLMInstrumentor().instrument(tracer_provider=setup.provider)
tracer = OITracer(setup.provider.get_tracer("conformance-agent"), config=TraceConfig())
tools_log, errors = [], []
kw = {"api_base": c.URL, "api_key": "x", "num_retries": 0}


@tracer.tool(name="get_weather")
def get_weather(city: str) -> str:
    return c.get_weather(city)


with tracer.start_as_current_span("weather-agent", openinference_span_kind="agent") as agent:
    agent.set_input(c.QUESTION)
    messages = [{"role": "system", "content": c.SYSTEM}, {"role": "user", "content": c.QUESTION}]
    r1 = litellm.completion(model="openai/fake-model", messages=messages, tools=[c.WEATHER_TOOL], **kw)
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    result = get_weather(**args)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": result}]
    r2 = litellm.completion(model="openai/fake-model", messages=messages, tools=[c.WEATHER_TOOL], **kw)
    agent.set_output(r2.choices[0].message.content)
    try:
        litellm.completion(model="openai/fake-error", messages=[{"role": "user", "content": c.QUESTION}], **kw)
    except Exception as e:  # litellm.BadRequestError
        errors.append(str(e))

setup.finish("openinference_litellm", c.versions("openinference-instrumentation-litellm", "litellm"), tools=tools_log, errors=errors)
