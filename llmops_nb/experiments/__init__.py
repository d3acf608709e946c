"""Experiments: run prompt versions, models or your own pipeline over a dataset version,
compare them with paired statistics, and gate regressions in CI.

Example:
    >>> from llmops_nb.experiments import mcnemar
    >>> round(mcnemar([True] * 50 + [False] * 50, [True] * 30 + [False] * 70).diff, 2)
    -0.2
"""

from llmops_nb.experiments._compare import (
    DEFAULT_MIN_EFFECT,
    Comparison,
    compare,
    compare_traffic,
    per_example_scores,
    plot_quality_vs_cost,
)
from llmops_nb.experiments._experiment import (
    EXPERIMENT_OUTPUTS,
    EXPERIMENTS,
    Experiment,
    evaluate_experiment,
    list_experiments,
    load_experiment,
    reproduce,
    run_experiment,
)
from llmops_nb.experiments._gate import ExperimentGate, gate_experiments
from llmops_nb.experiments._gate import _parse_rule as parse_rule  # deprecated: llmops_nb.rules
from llmops_nb.stats import (
    TestResult,
    holm,
    mcnemar,
    paired_bootstrap,
    two_proportions,
    unpaired_bootstrap,
    wilcoxon,
)

__all__ = [
    "run_experiment",
    "evaluate_experiment",
    "load_experiment",
    "list_experiments",
    "reproduce",
    "Experiment",
    "EXPERIMENTS",
    "EXPERIMENT_OUTPUTS",
    "compare",
    "compare_traffic",
    "Comparison",
    "DEFAULT_MIN_EFFECT",
    "per_example_scores",
    "plot_quality_vs_cost",
    "gate_experiments",
    "ExperimentGate",
    "parse_rule",
    "TestResult",
    "mcnemar",
    "wilcoxon",
    "paired_bootstrap",
    "two_proportions",
    "unpaired_bootstrap",
    "holm",
]
