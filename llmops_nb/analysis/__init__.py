"""Error analysis: where failures concentrate (slices), what they look like (clusters), what
they are (open and axial coding into a failure taxonomy) and what to do next.

Example:
    >>> import llmops_nb as lo
    >>> callable(lo.find_slices)
    True
"""

from llmops_nb.analysis._dims import dimension_mask
from llmops_nb.analysis._frame import outcome_from_results, trace_features
from llmops_nb.analysis._slices import SliceTable, find_slices, plot_slices
from llmops_nb.analysis._stats import benjamini_hochberg, fisher_vs_rest, wilson_interval

__all__ = [
    "find_slices",
    "plot_slices",
    "SliceTable",
    "dimension_mask",
    "trace_features",
    "outcome_from_results",
    "wilson_interval",
    "fisher_vs_rest",
    "benjamini_hochberg",
]
