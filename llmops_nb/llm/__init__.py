"""The LLM call runner shared by judges, experiments and analysis (facets, taxonomy, cluster names).

Async with a concurrency limit, paced to provider limits, retried with backoff, cached on disk,
costed per model and stopped cleanly by a budget. Chat completions (``LLMCall``) and embeddings
(``embed``, ``LLMCall(input=...)``) alike. litellm loads on first call, not on import.

Example:
    >>> from llmops_nb.llm import LLMCall, Runner
    >>> runner = Runner(concurrency=4, cache=False, budget_usd=1.0)
    >>> call = LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])
    >>> len(call.cache_key())
    64
"""

from __future__ import annotations

from llmops_nb.llm._runner import (
    TRANSPORT_KEYS,
    BudgetExhausted,
    CallCache,
    CallResult,
    LLMCall,
    LLMConfigError,
    Runner,
    bind_runner,
    current_runner,
    default_cache_path,
    embed,
    progress_bar,
    run_calls,
    run_sync,
)

__all__ = [
    "Runner", "LLMCall", "CallResult", "CallCache", "BudgetExhausted", "LLMConfigError", "run_calls", "run_sync",
    "current_runner", "bind_runner", "progress_bar", "default_cache_path", "TRANSPORT_KEYS",
    "embed",
]
