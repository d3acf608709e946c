"""Experiments: run prompt versions, models or your own pipeline over a dataset version,
compare them with paired statistics, and gate regressions in CI.

Example:
    >>> from llmops_nb.experiments import parse_rule
    >>> parse_rule("correctness >= 0.8")
    ('correctness', '>=', 0.8, False)
"""

from llmops_nb.experiments._compare import (
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
from llmops_nb.experiments._gate import ExperimentGate, gate_experiments, parse_rule
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
