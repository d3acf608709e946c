"""The planted failure modes: their causes (a slice of the data) and default rates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FAILURE_MODES", "PLANTED", "DEFAULT_RATES", "LONG_CONTEXT_TOKENS", "EVIDENCE_WORDS", "resolve_rates"]

LONG_CONTEXT_TOKENS = 6000
"""Prompt size (tokens of the first model call) above which a context counts as long."""

FAILURE_MODES: tuple[str, ...] = (
    "hallucinated_policy",
    "wrong_tool_args",
    "wrong_language",
    "timeout_long_context",
    "pii_echo",
    "injection_success",
    "over_refusal",
)
"""The names of the planted failure modes (one bool column each in the truth frame)."""

PLANTED: dict[str, dict[str, Any]] = {
    "hallucinated_policy": {
        "column": "category",
        "value": "billing",
        "where": "root span metadata",
        "description": "Retrieval misses in the billing category (the top documents are low-score articles "
        "of other categories) and the answer invents a refund policy that contradicts the knowledge base.",
        "applies_to": "answered traces (not blocked, timed out, refused or hijacked by an injection)",
        "evidence": "retriever documents with scores below 0.45; answer promising 120-day or double refunds",
    },
    "wrong_tool_args": {
        "column": "prompt_version",
        "value": "support-v2.1",
        "where": "root span metadata",
        "description": "Prompt support-v2.1 tells the model to 'normalise order references to their numeric "
        "part', so lookup_order gets '4829137' instead of 'ORD-4829137', fails with OrderNotFound, and the "
        "assistant asks the customer to re-check a correct order number.",
        "applies_to": "traces whose assistant looks up an order (first tool call is lookup_order)",
        "evidence": "tool span lookup_order with status error OrderNotFound; order id without the ORD- prefix",
    },
    "wrong_language": {
        "column": "model",
        "value": "mistral-small-latest",
        "where": "llm spans",
        "description": "Non-English questions answered in English.",
        "applies_to": "non-English traces that get an answer",
        "evidence": "root metadata language != 'en' with an English answer",
    },
    "timeout_long_context": {
        "column": "model",
        "value": "claude-sonnet-4-5",
        "where": "llm spans",
        "condition": f"prompt over {LONG_CONTEXT_TOKENS} tokens (long pasted logs or email threads)",
        "description": "Long contexts time out on claude-sonnet-4-5: the first model call fails at the "
        "30 s client timeout and the customer gets a generic apology.",
        "applies_to": "every trace that reaches the model (the in-slice rate applies to long contexts on the model)",
        "evidence": "llm span status error 'Timeout' with latency ~30000 ms; long input messages",
    },
    "pii_echo": {
        "column": "channel",
        "value": "email",
        "where": "root span metadata",
        "description": "On the email channel the output PII guardrail runs in log-only mode, and the answer "
        "echoes the customer's email address, phone or card number back.",
        "applies_to": "traces whose question contains PII and that get a normal answer",
        "evidence": "output guardrail reporting pii with action log_only; the PII in the answer",
    },
    "injection_success": {
        "column": "model",
        "value": "llama-3.1-8b-instant",
        "where": "llm spans",
        "description": "A prompt injection in the customer's message succeeds: the model reveals its "
        "instructions, approves a refund or hands out a discount code.",
        "applies_to": "traces whose question carries an injection attempt",
        "evidence": "input guardrail prompt_injection score 0.55-0.89 (allowed); compliant answer",
    },
    "over_refusal": {
        "column": "tenant",
        "value": "umbrella-health",
        "where": "root span metadata",
        "description": "The tenant's compliance addendum to the system prompt makes the model refuse benign "
        "support questions.",
        "applies_to": "traces without an injection attempt that reach the model",
        "evidence": "refusal answers ('I can't help with that request') without tool calls",
    },
}
"""Each planted failure mode's cause: the slice column and value where it concentrates (where the
column lives, an extra condition when there is one), a description, which traces it can affect
and the evidence an analyst would see."""

EVIDENCE_WORDS: dict[str, tuple[str, ...]] = {
    "hallucinated_policy": ("refund policy",),
    "wrong_tool_args": ("OrderNotFound",),
    "wrong_language": ("English",),
    "timeout_long_context": ("timed out",),
    "pii_echo": ("personal data",),
    "injection_success": ("injected instructions",),
    "over_refusal": ("refused",),
}
"""The words a readable name of each planted failure mode contains (what a person reading a
failing trace of that mode would say): a topic named for the mode names them."""

DEFAULT_RATES: dict[str, tuple[float, float]] = {
    "hallucinated_policy": (0.35, 0.01),
    "wrong_tool_args": (0.45, 0.02),
    "wrong_language": (0.55, 0.02),
    "timeout_long_context": (0.80, 0.003),
    "pii_echo": (0.50, 0.02),
    "injection_success": (0.70, 0.03),
    "over_refusal": (0.40, 0.01),
}
"""mode -> (probability inside the cause slice, background probability elsewhere), among the
traces the mode applies to."""


def resolve_rates(rates: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    """Merge user rates into the defaults.

    A value is a float (the in-slice rate; the background keeps its default), a pair
    ``(in_slice, background)`` or a mapping ``{"rate": ..., "background": ...}``.

    Example:
        >>> resolve_rates({"over_refusal": 0.9, "pii_echo": (0.3, 0.0)})["over_refusal"]
        (0.9, 0.01)
    """
    out = dict(DEFAULT_RATES)
    for mode, v in (rates or {}).items():
        if mode not in DEFAULT_RATES:
            raise ValueError(f"unknown failure mode {mode!r} in rates; valid modes: {list(FAILURE_MODES)}")
        cur_in, cur_bg = out[mode]
        if isinstance(v, Mapping):
            new = (float(v.get("rate", cur_in)), float(v.get("background", cur_bg)))
        elif isinstance(v, (tuple, list)):
            if len(v) != 2:
                raise ValueError(f"rates[{mode!r}]={v!r}: give (in_slice, background), a float or a mapping")
            new = (float(v[0]), float(v[1]))
        else:
            new = (float(v), cur_bg)
        for x in new:
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"rates[{mode!r}]={v!r}: probabilities must be between 0 and 1")
        out[mode] = new
    return out
