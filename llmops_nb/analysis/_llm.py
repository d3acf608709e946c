"""Analysis asks LLMs (facets, taxonomies, cluster names, failure-mode tags) through the shared
runner of :mod:`llmops_nb.llm`, like judges and experiments: concurrency, pacing, retries, the
call cache and the budget apply alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["ask_json"]


def ask_json(model: str, prompts: Sequence[str], *, runner: Any = None, concurrency: int = 8,
             **llm_kwargs: Any) -> list[tuple[dict[str, Any] | None, str]]:
    """Ask ``model`` each prompt; per prompt ``(the JSON object of the reply, the raw reply)``,
    or ``(None, "<error>")`` when the call failed or the reply holds no JSON object.

    ``runner``: a :class:`llmops_nb.llm.Runner` (its cache, limits and budget); default the
    runner of an enclosing evaluation, else a new one without cache and with 2 retries.
    ``llm_kwargs`` go to ``litellm.acompletion`` (``api_base``, ``temperature``, ...).

    Example:
        >>> ask_json("openai/gpt-4o-mini", ['Say {"ok": true}'], mock_response='{"ok": true}')
        [({'ok': True}, '{"ok": true}')]
    """
    from llmops_nb.llm import LLMCall, Runner, current_runner

    r = runner or current_runner() or Runner(concurrency=concurrency, cache=False, max_retries=2)
    calls = [LLMCall(model, [{"role": "user", "content": p}], dict(llm_kwargs)) for p in prompts]
    out: list[tuple[dict[str, Any] | None, str]] = []
    for res in r.run(calls, progress=False) if calls else []:
        if res.error is not None:
            out.append((None, res.error))
            continue
        content = res.text or ""
        start, end = content.find("{"), content.rfind("}")
        try:
            if start < 0 or end <= start:
                raise ValueError("no JSON object")
            data = json.loads(content[start: end + 1])
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            out.append((None, f"ValueError: the model {model!r} did not reply with JSON: {content[:300]!r}"))
            continue
        out.append((data, content))
    return out
