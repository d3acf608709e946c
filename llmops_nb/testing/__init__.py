"""Testing helpers: a local OpenAI-compatible server with fault injection.

Example:
    >>> from llmops_nb.testing import FakeLLMServer, FaultConfig
    >>> FaultConfig(rate_429=0.1).rate_429
    0.1
"""

from llmops_nb.testing._fake_llm import FakeLLMServer, FaultConfig

__all__ = ["FakeLLMServer", "FaultConfig"]
