"""Production overview: quality, cost and latency over time, SLO targets and alerts.

Example:
    >>> from llmops_nb.monitor import check_slos
    >>> import pandas as pd
    >>> ts = pd.DataFrame({"period": [1], "n": [10], "errors": [0], "error_rate": [0.0]})
    >>> len(check_slos(ts, {"error_rate": "<= 0.05"}).alerts)
    0
"""

from llmops_nb.monitor._monitor import (
    SLOReport,
    check_slos,
    group_column,
    overview_figures,
    plot_timeseries,
    timeseries,
)

__all__ = ["timeseries", "check_slos", "plot_timeseries", "overview_figures", "SLOReport", "group_column"]
