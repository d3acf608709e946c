"""A simulated customer-support assistant with planted failure modes, and a simulated judge.

``generate`` makes realistic traces (retrieval, tools, guardrails, multi-turn sessions, five
languages, several models) where each failure mode is caused by something findable in the
data (:data:`PLANTED`). The ground truth is kept apart from the spans. ``register_sim_judge``
registers a litellm provider ``llmops-sim/judge`` that answers judge prompts from that truth
with configured error rates, so judge pipelines run offline.

Example:
    >>> from llmops_nb.demo import generate, PLANTED
    >>> data = generate(100, seed=0)
    >>> PLANTED["hallucinated_policy"]["column"], PLANTED["hallucinated_policy"]["value"]
    ('category', 'billing')
"""

from __future__ import annotations

from typing import Any

from llmops_nb.demo._generate import DEFAULT_START, DemoData, generate
from llmops_nb.demo._modes import (
    DEFAULT_RATES,
    EVIDENCE_WORDS,
    FAILURE_MODES,
    LONG_CONTEXT_TOKENS,
    PLANTED,
    resolve_rates,
)

__all__ = [
    "generate",
    "DemoData",
    "PLANTED",
    "FAILURE_MODES",
    "DEFAULT_RATES",
    "EVIDENCE_WORDS",
    "DEFAULT_START",
    "LONG_CONTEXT_TOKENS",
    "resolve_rates",
    "write_store",
    "write_otlp",
    "load_truth",
    "load_plan",
    "load_session_truth",
    "register_sim_judge",
    "unregister_sim_judge",
    "SimJudge",
    "SIM_JUDGE_MODEL",
    "plant_session_failures",
    "gold",
    "SESSION_MODES",
    "SESSION_PLANTED",
    "SESSION_RATES",
]

_LAZY = {
    "write_store": "llmops_nb.demo._io",
    "write_otlp": "llmops_nb.demo._io",
    "load_truth": "llmops_nb.demo._io",
    "load_plan": "llmops_nb.demo._io",
    "load_session_truth": "llmops_nb.demo._io",
    "register_sim_judge": "llmops_nb.demo._judge",
    "unregister_sim_judge": "llmops_nb.demo._judge",
    "SimJudge": "llmops_nb.demo._judge",
    "SIM_JUDGE_MODEL": "llmops_nb.demo._judge",
    "plant_session_failures": "llmops_nb.demo._sessions",
    "gold": "llmops_nb.demo._gold",
    "SESSION_MODES": "llmops_nb.demo._sessions",
    "SESSION_PLANTED": "llmops_nb.demo._sessions",
    "SESSION_RATES": "llmops_nb.demo._sessions",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llmops_nb.demo' has no attribute {name!r}")
