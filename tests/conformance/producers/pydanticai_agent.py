"""pydantic-ai's OpenTelemetry instrumentation (what ``logfire.instrument_pydantic_ai()`` turns on):
an agent with a ``get_weather`` tool on an OpenAI-compatible model, content included, and an
agent whose model the server refuses."""

import _common as c
from _common import OTelSetup

setup = OTelSetup("pydantic-ai")

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.models.instrumented import InstrumentationSettings  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

try:
    from pydantic_ai.models.openai import OpenAIChatModel as ChatModel  # noqa: E402
except ImportError:  # older releases
    from pydantic_ai.models.openai import OpenAIModel as ChatModel  # noqa: E402

provider = OpenAIProvider(base_url=c.URL, api_key="x")
settings = InstrumentationSettings(tracer_provider=setup.provider, include_content=True)
Agent.instrument_all(settings)  # what logfire.instrument_pydantic_ai() does
agent = Agent(ChatModel("fake-model", provider=provider), system_prompt=c.SYSTEM, name="weather_agent")
tools_log, errors = [], []


@agent.tool_plain
def get_weather(city: str) -> str:
    """The current weather in a city."""
    result = c.get_weather(city)
    tools_log.append({"name": "get_weather", "arguments": {"city": city}, "result": result})
    return result


agent.run_sync(c.QUESTION)
broken = Agent(ChatModel("fake-error", provider=provider), system_prompt=c.SYSTEM, name="broken_agent")
try:
    broken.run_sync(c.QUESTION)
except Exception as e:  # pydantic_ai.exceptions.ModelHTTPError
    errors.append(str(e))

setup.finish("pydantic_ai", c.versions("pydantic-ai-slim", "openai"), tools=tools_log, errors=errors,
             instrumentation_version=getattr(settings, "version", None))
