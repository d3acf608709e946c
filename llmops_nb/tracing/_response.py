"""What a litellm response says, as OpenInference span attributes: the model and provider a call
named, the output messages and finish reasons, tokens (with cache reads and reasoning), and the
cost from litellm's price map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_nb.tracing._otel import as_dict, message_attributes

__all__ = ["model_provider", "cost", "response_attributes"]


def model_provider(model: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(model name, provider) of a litellm model string, as litellm resolves it."""
    if not isinstance(model, str):
        return None, None
    try:
        import litellm

        short, provider, _, _ = litellm.get_llm_provider(
            model=model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base"))
        return short, provider
    except Exception:
        if "/" in model:
            p, _, m = model.partition("/")
            return m, p
        return model, None


def cost(resp: Any, info: Mapping[str, Any]) -> float | None:
    """Cost from litellm's price map, or None when the model is not priced."""
    try:
        import litellm

        c = litellm.completion_cost(completion_response=resp, model=info.get("model"),
                                    custom_llm_provider=info.get("provider"))
        return None if c is None else float(c)
    except Exception:
        pass
    try:  # the name the provider answered with
        import litellm

        c = litellm.completion_cost(completion_response=resp)
        return None if c is None else float(c)
    except Exception:
        return None


def response_attributes(resp: Any, info: Mapping[str, Any], usage_estimated: bool) -> dict[str, Any]:
    """The span attributes of one response (``info`` is what the call's span start noted)."""
    a: dict[str, Any] = {}
    d_model = getattr(resp, "model", None)
    if d_model:
        a["llm.response.model"] = str(d_model)
    rid = getattr(resp, "id", None)
    if rid and info["kind"] == "llm":
        a["llm.response.id"] = str(rid)
    if info["kind"] == "llm":
        choices = getattr(resp, "choices", None) or []
        msgs = []
        finish = []
        for ch in choices:
            msg = getattr(ch, "message", None)
            if msg is None and isinstance(ch, Mapping):
                msg = ch.get("message")
            msgs.append(msg)
            fr = getattr(ch, "finish_reason", None)
            if fr:
                finish.append(str(fr))
        a.update(message_attributes("llm.output_messages", msgs))
        if finish:
            a["llm.finish_reasons"] = finish
    usage = as_dict(getattr(resp, "usage", None))
    pt, ct, tt = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
    if pt is not None:
        a["llm.token_count.prompt"] = int(pt)
    if ct is not None:
        a["llm.token_count.completion"] = int(ct)
    if tt is not None:
        a["llm.token_count.total"] = int(tt)
    elif pt is not None:
        a["llm.token_count.total"] = int(pt) + int(ct or 0)
    pdet = as_dict(usage.get("prompt_tokens_details"))
    if pdet.get("cached_tokens"):
        a["llm.token_count.prompt_details.cache_read"] = int(pdet["cached_tokens"])
    cdet = as_dict(usage.get("completion_tokens_details"))
    if cdet.get("reasoning_tokens"):
        a["llm.token_count.completion_details.reasoning"] = int(cdet["reasoning_tokens"])
    if usage_estimated and pt is not None:
        a["llmops.usage_estimated"] = True
    c = cost(resp, info)
    if c is not None:
        a["llm.cost.total"] = c
    return a
