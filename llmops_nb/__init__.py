"""llmops_nb: the notebook workbench for the quality of LLM applications.

Pull traces into one spans table, evaluate them, find why they fail, label them inline, curate
versioned test sets and compare experiments, all from a notebook.

Everything is imported lazily, so ``import llmops_nb`` is fast.

Example:
    >>> import llmops_nb as lo
    >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}], format="records")
    >>> lo.to_traces(spans).shape[0]
    1
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# litellm downloads its price map from GitHub when it is imported, unless told not to: offline
# (or behind a firewall) that is seconds of retries and warnings before the first judge call.
# Prices then come from the map bundled with the installed litellm (reproducible costs); set
# LITELLM_LOCAL_MODEL_COST_MAP=False before importing llmops_nb to fetch the latest instead.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# public name -> module that defines it (declared once; each module re-exports with __all__)
_LAZY: dict[str, str] = {
    # foundation
    "read_traces": "llmops_nb.loaders",
    "read_evaluations": "llmops_nb.loaders",
    "formats": "llmops_nb.loaders",
    "register_format": "llmops_nb.loaders",
    "Format": "llmops_nb.loaders",
    "LoadError": "llmops_nb.loaders",
    "LoadReport": "llmops_nb.loaders",
    "Store": "llmops_nb.store",
    "to_traces": "llmops_nb.traces",
    "to_sessions": "llmops_nb.sessions",
    # capture
    "capture": "llmops_nb.tracing",
    "span": "llmops_nb.tracing",
    # evaluation
    "evaluate": "llmops_nb.evals",
    "evaluator": "llmops_nb.evals",
    "Evaluator": "llmops_nb.evals",
    "gate": "llmops_nb.evals",
    "wide": "llmops_nb.evals",
    # analysis
    "find_slices": "llmops_nb.analysis",
    "cluster": "llmops_nb.analysis",
    "facets": "llmops_nb.analysis",
    "facet_table": "llmops_nb.analysis",
    "topics": "llmops_nb.analysis",
    "propose_taxonomy": "llmops_nb.analysis",
    "assign_failure_modes": "llmops_nb.analysis",
    "suggest_next_steps": "llmops_nb.analysis",
    "Taxonomy": "llmops_nb.analysis",
    # annotation
    "show_trace": "llmops_nb.annotation",
    "show_session": "llmops_nb.annotation",
    "annotate": "llmops_nb.annotation",
    "labels": "llmops_nb.annotation",
    "agreement": "llmops_nb.annotation",
    "align": "llmops_nb.annotation",
    "queue_from_selection": "llmops_nb.annotation",
    # connectors
    "pull": "llmops_nb.connectors",
    "push": "llmops_nb.connectors",
    # experiments
    "run_experiment": "llmops_nb.experiments",
    "compare": "llmops_nb.experiments",
    "compare_traffic": "llmops_nb.experiments",
    "load_experiment": "llmops_nb.experiments",
    # monitoring
    "timeseries": "llmops_nb.monitor",
    "check_slos": "llmops_nb.monitor",
    # reports
    "render_report": "llmops_nb.report",
    # views that link
    "explore": "llmops_nb.views",
    "compare_outputs": "llmops_nb.views",
    # where the heavy verbs run (this process or a Ray cluster)
    "engine": "llmops_nb.engines",
}
_SUBMODULES = {
    "schema", "stats", "rules", "results", "store", "llm", "loaders", "tracing", "evals", "analysis", "annotation", "datasets",
    "prompts", "experiments", "connectors", "report", "demo", "traces", "cli", "monitor", "testing",
    "sessions", "views", "engines",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(_LAZY[name])
        value = getattr(mod, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        mod = importlib.import_module(f"llmops_nb.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'llmops_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, *_SUBMODULES])


def _verb(name: str) -> property:
    def get(_self: types.ModuleType) -> Any:
        return getattr(importlib.import_module(_LAZY[name]), name)

    def ignore(_self: types.ModuleType, _value: Any) -> None:
        """The import system binds an imported submodule of the same name here: keep the verb."""

    return property(get, ignore)


class _Package(types.ModuleType):
    """``lo.annotate`` and ``lo.capture`` are always the functions, even once the deprecated
    module aliases ``llmops_nb.annotate`` / ``llmops_nb.capture`` are imported (Python would bind
    the module there)."""

    annotate = _verb("annotate")
    capture = _verb("capture")


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.loaders import (  # noqa: F401
        Format,
        LoadError,
        LoadReport,
        formats,
        read_traces,
        register_format,
    )
    from llmops_nb.sessions import to_sessions  # noqa: F401
    from llmops_nb.store import Store  # noqa: F401
    from llmops_nb.traces import to_traces  # noqa: F401
