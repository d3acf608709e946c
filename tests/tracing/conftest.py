"""Fixtures for the capture tests: a fake OpenAI-compatible server and a priced fake model."""

from __future__ import annotations

import pytest

MODEL = "llmops-capture-test"
IN_COST = 1.5e-6
OUT_COST = 4e-6


def responder(req: dict) -> dict | str:
    """Replies by the last user message: 'TOOL' asks for a tool call; usage is fixed per reply."""
    last = next((m for m in reversed(req.get("messages") or []) if m.get("role") == "user"), {})
    text = str(last.get("content") or "")
    if "TOOL" in text:
        return {"content": None, "tool_calls": [{"id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A17"}}],
                "usage": {"prompt_tokens": 31, "completion_tokens": 9, "total_tokens": 40}}
    if text.startswith("echo:"):
        return {"content": "answer to " + text[5:], "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}
    return {"content": "Your order A17 has shipped.", "usage": {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22}}


@pytest.fixture(scope="session")
def llm_server():
    import litellm

    from llmops_nb.testing import FakeLLMServer

    litellm.register_model({f"openai/{MODEL}": {"input_cost_per_token": IN_COST, "output_cost_per_token": OUT_COST,
                                                 "litellm_provider": "openai", "mode": "chat"}})
    with FakeLLMServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def price():
    """The fake model's name and its registered prices per input and output token."""
    return {"model": MODEL, "in": IN_COST, "out": OUT_COST}


@pytest.fixture
def llm_kwargs(llm_server):
    return {"model": f"openai/{MODEL}", "api_base": llm_server.url, "api_key": "test-key"}


@pytest.fixture(autouse=True)
def _no_capture_left_running():
    """Every test leaves litellm unwrapped and no capture recording."""
    yield
    from llmops_nb.tracing import _context

    left = list(_context._STACK)
    for cap in left:
        cap.stop()
    assert not left, f"a test left captures running: {left}"
