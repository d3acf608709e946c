"""Production overview: quality, cost and latency over time, SLO targets and alerts, and
online evaluation on a schedule (:func:`run_monitor`, ``llmops-nb monitor run``).

Example:
    >>> from llmops_nb.monitor import check_slos
    >>> import pandas as pd
    >>> ts = pd.DataFrame({"period": [1], "n": [10], "errors": [0], "error_rate": [0.0]})
    >>> len(check_slos(ts, {"error_rate": "<= 0.05"}).alerts)
    0
"""

from llmops_nb.monitor._drift import drift, psi
from llmops_nb.monitor._monitor import (
    SLOReport,
    check_slos,
    group_column,
    interval_of,
    overview_figures,
    plot_timeseries,
    timeseries,
)
from llmops_nb.monitor._notify import alert_text, notify
from llmops_nb.monitor._online import (
    MONITOR_SAMPLES,
    MonitorConfig,
    MonitorOverview,
    MonitorRun,
    load_config,
    read_monitor,
    run_monitor,
    sample_rate,
)

__all__ = ["timeseries", "check_slos", "plot_timeseries", "overview_figures", "SLOReport", "group_column", "interval_of",
           "run_monitor", "read_monitor", "load_config", "MonitorConfig", "MonitorRun", "MonitorOverview",
           "sample_rate", "MONITOR_SAMPLES", "drift", "psi", "notify", "alert_text"]
