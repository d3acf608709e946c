"""The scripted model behind every conformance producer: the fake server's answers.

Every producer runs the same small agent against :class:`~llmops_nb.testing.FakeLLMServer`:
a first model call that asks for the ``get_weather`` tool (or, when a ``transfer_to_*`` tool is
offered, hands off first), a second call that answers from the tool result, and a call to the
model ``fake-error`` that the server refuses with a 400. The server's exchanges (request body,
answer, usage) are recorded: they are what went over the wire, one half of the truth.
"""

from __future__ import annotations

import threading
from typing import Any

WEATHER_CALL_ID = "call_weather_1"
TRANSFER_CALL_ID = "call_transfer_1"
FINAL_TEXT = "It is 18C and sunny in Paris."
PLAIN_TEXT = "Paris is the capital of France."
ERROR_MODEL = "fake-error"
ERROR_MESSAGE = "The model `fake-error` does not exist or you do not have access to it."


def _tool_names(body: dict[str, Any]) -> list[str]:
    out = []
    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        if fn.get("name"):
            out.append(fn["name"])
    return out


def _answered_calls(body: dict[str, Any]) -> set[str]:
    """Tool call ids whose results the request already carries (chat or Responses input)."""
    done: set[str] = set()
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "tool":
            done.add(str(m.get("tool_call_id")))
    inp = body.get("input")
    for it in inp if isinstance(inp, list) else []:
        if isinstance(it, dict) and it.get("type") == "function_call_output":
            done.add(str(it.get("call_id")))
    return done


class Scenario:
    """A responder for :class:`FakeLLMServer` that also records every exchange."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = self.answer(body)
        with self._lock:
            self.exchanges.append({"api": "responses" if "input" in body and "messages" not in body else "chat",
                                   "request": body, "response": spec})
        return spec

    @staticmethod
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        model = str(body.get("model", ""))
        if ERROR_MODEL in model:
            return {"status": 400, "error": {"message": ERROR_MESSAGE, "type": "invalid_request_error",
                                             "param": "model", "code": "model_not_found"}}
        tools = _tool_names(body)
        done = _answered_calls(body)
        n_in = len(body.get("messages") or body.get("input") or [])
        transfer = next((t for t in tools if t.startswith("transfer_to_")), None)
        if transfer and TRANSFER_CALL_ID not in done:
            spec: dict[str, Any] = {"content": None, "tool_calls": [{"id": TRANSFER_CALL_ID, "name": transfer, "arguments": "{}"}]}
        elif "get_weather" in tools and WEATHER_CALL_ID not in done:
            spec = {"content": None, "tool_calls": [{"id": WEATHER_CALL_ID, "name": "get_weather",
                                                     "arguments": '{"city": "Paris"}'}]}
        elif WEATHER_CALL_ID in done:
            spec = {"content": FINAL_TEXT}
        else:
            spec = {"content": PLAIN_TEXT}
        pt = 20 + 3 * n_in
        ct = 9 if spec.get("tool_calls") else len((spec["content"] or "").split()) + 2
        spec["usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        return spec
