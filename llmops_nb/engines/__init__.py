"""Where the heavy verbs run: this process (``"local"``) or a Ray cluster (``"ray"``).

``lo.engine("ray", address="auto")`` makes ``read_traces``, ``evaluate``, ``cluster``,
``topics`` and ``find_slices`` run on Ray from then on (or pass ``engine="ray"`` to one call);
the results are the same as in one process. Needs ``pip install "llmops-nb[ray]"``.

Example:
    >>> import llmops_nb as lo
    >>> lo.engine("local").name
    'local'
"""

from llmops_nb.engines._engine import (
           ENGINES,
           Engine,
           EngineError,
           current_engine,
           engine,
           resolve_engine,
)
from llmops_nb.engines._ray import (
           SharedBudget,
           SharedCallCache,
           SharedLimits,
           rate_limiter,
           run_tasks,
           shared_budget,
           shared_cache,
           tasks_for,
)

__all__ = ["engine", "Engine", "EngineError", "current_engine", "resolve_engine", "ENGINES", "run_tasks", "tasks_for",
           "rate_limiter", "shared_cache", "SharedCallCache", "SharedLimits", "shared_budget", "SharedBudget"]
