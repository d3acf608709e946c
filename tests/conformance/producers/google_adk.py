"""Google ADK (``google-adk``) with its built-in OpenTelemetry tracing: an LlmAgent with a
``get_weather`` function tool, on an OpenAI-compatible model through ADK's ``LiteLlm`` wrapper
(the fake server), and an agent whose model the server refuses. With message content capture
on, ADK 2.x writes the messages as gen_ai log records whose bodies are Gemini contents
(``parts`` with ``text``, ``function_call``, ``function_response``; role ``model``), exported as
OTLP logs beside the spans."""

import asyncio
import os

os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")  # content as gen_ai log records

import _common as c  # noqa: E402
from _common import OTelSetup  # noqa: E402

setup = OTelSetup("google-adk", logs=True)

from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.models.lite_llm import LiteLlm  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

tools_log, errors = [], []


def get_weather(city: str) -> str:
    """The current weather in a city."""
    result = c.get_weather(city)
    tools_log.append({"name": "get_weather", "arguments": {"city": city}, "result": result})
    return result


def model(name):
    return LiteLlm(model=f"openai/{name}", api_base=c.URL, api_key="x", num_retries=0)


async def run(agent):
    runner = InMemoryRunner(agent=agent, app_name="conformance")
    session = await runner.session_service.create_session(app_name="conformance", user_id="u1")
    msg = types.Content(role="user", parts=[types.Part(text=c.QUESTION)])
    async for _ in runner.run_async(user_id="u1", session_id=session.id, new_message=msg):
        pass


asyncio.run(run(LlmAgent(name="weather_agent", model=model("fake-model"), instruction=c.SYSTEM, tools=[get_weather])))
try:
    asyncio.run(run(LlmAgent(name="broken_agent", model=model("fake-error"), instruction=c.SYSTEM)))
except Exception as e:  # litellm.BadRequestError
    errors.append(str(e))

setup.finish("google_adk", c.versions("google-adk", "google-genai", "litellm"), tools=tools_log, errors=errors)
