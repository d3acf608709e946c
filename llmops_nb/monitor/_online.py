"""Online evaluation on a schedule: one monitor pass pulls new traces, samples them, evaluates
the sample under a budget, updates the time series, checks the SLOs, writes back, notifies and
measures drift. Everything it keeps is in the store, so a pass that dies part-way resumes."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.hashing import uniform
from llmops_nb.monitor._drift import drift as drift_of
from llmops_nb.monitor._monitor import check_slos, group_column, timeseries
from llmops_nb.monitor._notify import notify
from llmops_nb.rules import parse_rule
from llmops_nb.schema import Column, Table
from llmops_nb.store import Store, as_store

__all__ = ["MonitorConfig", "MonitorRun", "MonitorOverview", "load_config", "run_monitor", "read_monitor",
           "sample_rate", "MONITOR_SAMPLES"]

MONITOR_SAMPLES = Table(
    "monitor_samples",
    "one row per (monitor, trace) the monitor has considered",
    (
        Column("monitor", "str", "Monitor name.", True),
        Column("trace_id", "str", "The trace considered.", True),
        Column("run_id", "str", "The monitor run that considered it (results of its evaluation carry it).", True),
        Column("sampled", "bool", "Whether it was evaluated."),
        Column("reason", "str", "Why: 'always: <rule>', 'slice: <key>', 'rate', 'not sampled' or 'over budget'."),
        Column("start_time", "time", "The trace's start."),
        Column("inclusion_prob", "float", "The probability the design gave it of being evaluated (1 for always-included)."),
        Column("created_at", "time", "When the run considered it, UTC."),
    ),
)
"""The monitor's ledger of traces it has seen: new traffic is what is not in it."""

_KNOWN = {"name", "store", "source", "sampling", "evaluators", "budget", "freq", "by", "slos", "significant_only",
          "notify", "push", "drift", "lateness", "history", "chunk"}


@dataclass
class MonitorConfig:
    """What a monitor does each pass (usually read from ``monitor.yaml`` by :func:`load_config`).

    - ``source``: None reads the store (the OTLP collector or ``capture`` writes there), or
      ``{"connector": "langfuse", "project": ..., "url": ...}`` pulls since the connector's
      watermark first (the arguments of :func:`llmops_nb.connectors.pull`).
    - ``sampling``: ``rate`` (share of traces, by a consistent hash of the trace id),
      ``slices`` (``{"category=billing": 1.0}``: a rate per metadata key or column value; the
      first match wins), ``always`` (rules over columns or metadata keys, e.g.
      ``has_error == 1`` or ``feedback_score <= 0``), ``salt``.
    - ``budget``: ``traces_per_run``, ``traces_per_day``, ``usd_per_run``, ``usd_per_day``.
    - ``slos``: targets in the rule grammar over :func:`timeseries` columns, e.g.
      ``{"pass_rate:language_match": ">= 0.9", "error_rate": "<= 0.05"}``; ``freq`` their period;
      ``significant_only`` fires only when the whole 95% interval misses.
    - ``notify``: channels (``{"webhook": URL}``, ``{"email": {...}}``, ``{"file": PATH}``).
    - ``push``: ``{"target": "langfuse", "project": ...}`` writes new results back with
      :func:`llmops_nb.connectors.push`.
    - ``drift``: ``{"reference_days": 7, "windows": ["1D", "7D"]}`` (reference = the first
      days of stored traffic, or ``reference: {start:, end:}``).

    Example:
        >>> MonitorConfig(name="prod", evaluators=["refusal"], slos={"error_rate": "<= 0.05"}).freq
        '1D'
    """

    name: str = "default"
    store: str | None = None
    source: Mapping[str, Any] | None = None
    sampling: Mapping[str, Any] = field(default_factory=dict)
    evaluators: Sequence[Any] = ()
    budget: Mapping[str, Any] = field(default_factory=dict)
    freq: str = "1D"
    by: Sequence[str] = ()
    slos: Mapping[str, Any] = field(default_factory=dict)
    significant_only: bool = True
    notify: Sequence[Mapping[str, Any]] = ()
    push: Mapping[str, Any] | None = None
    drift: Mapping[str, Any] | None = None
    lateness: str = "1D"
    history: str = "60D"
    chunk: int = 500


def load_config(config: str | os.PathLike[str] | Mapping[str, Any] | MonitorConfig) -> MonitorConfig:
    """A :class:`MonitorConfig` from a YAML file, a mapping or a config.

    Example:
        >>> load_config({"name": "prod", "sampling": {"rate": 0.1}}).sampling["rate"]
        0.1
        >>> load_config({"name": "prod", "rate": 0.1})
        Traceback (most recent call last):
        ValueError: monitor config: unknown key 'rate'; valid keys: ['budget', 'by', 'chunk', 'drift', 'evaluators', 'freq', 'history', 'lateness', 'name', 'notify', 'push', 'sampling', 'significant_only', 'slos', 'source', 'store']
    """
    if isinstance(config, MonitorConfig):
        return config
    where = "monitor config"
    if not isinstance(config, Mapping):
        import yaml

        where = f"monitor config {config}"
        try:
            config = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise FileNotFoundError(f"{where}: no such file; write one as in the README section 'In production'") from None
        if not isinstance(config, Mapping):
            raise ValueError(f"{where}: the file must hold a mapping of settings, not {type(config).__name__}")
    for k in config:
        if k not in _KNOWN:
            raise ValueError(f"{where}: unknown key {k!r}; valid keys: {sorted(_KNOWN)}")
    cfg = MonitorConfig(**dict(config))
    for k in (cfg.sampling.get("always") or []):
        parse_rule(k)
    if cfg.push is not None and "target" not in cfg.push:
        raise ValueError(f"{where}: push needs a target, e.g. push: {{target: langfuse, project: support}}")
    return cfg


def sample_rate(trace_id: str, salt: str = "") -> float:
    """The trace's position in [0, 1): a consistent hash of its id (the same on every machine
    and run), so a rate of 0.1 keeps the same traces each time and raising it only adds
    (:func:`llmops_nb.hashing.uniform`, algorithm ``"blake2b"``, salt ``"<salt>:"``).

    Example:
        >>> sample_rate("abc") == sample_rate("abc"), 0 <= sample_rate("abc") < 1
        (True, True)
    """
    return float(uniform([trace_id], salt=f"{salt}:", algorithm="blake2b")[0])


def _value(frame: pd.DataFrame, key: str) -> pd.Series:
    try:
        s = group_column(frame, key)
    except KeyError:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return s


def _decide(traces: pd.DataFrame, sampling: Mapping[str, Any]) -> pd.DataFrame:
    salt = str(sampling.get("salt", ""))
    rate = float(sampling.get("rate", 1.0))
    u = uniform(traces["trace_id"].astype(str), salt=f"{salt}:", algorithm="blake2b")  # == sample_rate per trace
    sampled = np.zeros(len(traces), bool)
    reason = np.array(["not sampled"] * len(traces), dtype=object)
    always = np.zeros(len(traces), bool)
    for text in sampling.get("always") or []:
        rule = parse_rule(text)
        vals = pd.to_numeric(_value(traces, rule.metric).map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v),
                             errors="coerce").to_numpy(float)
        hit = np.array([not np.isnan(v) and rule.holds(v) for v in vals], bool) & ~always
        reason[hit] = f"always: {text}"
        always |= hit
    rates = np.full(len(traces), rate)
    matched = np.zeros(len(traces), bool)
    for key, r in (sampling.get("slices") or {}).items():
        col, _, want = str(key).partition("=")
        hit = (_value(traces, col.strip()).astype(str) == want.strip()).to_numpy() & ~matched
        rates[hit] = float(r)
        matched |= hit
        reason[hit & ~always] = f"slice: {key}"
    by_rate = u < rates
    reason[by_rate & ~always & ~matched] = "rate"
    reason[~by_rate & ~always] = "not sampled"
    sampled = always | by_rate
    prob = np.where(always, 1.0, np.clip(rates, 0.0, 1.0))
    return pd.DataFrame({"trace_id": traces["trace_id"].to_numpy(), "sampled": sampled, "reason": reason,
                         "_always": always, "_u": u, "inclusion_prob": prob, "start_time": traces["start_time"].to_numpy()})


@dataclass
class MonitorRun:
    """What one monitor pass did: how many new traces it considered, sampled and evaluated, the
    alerts it fired and resolved and how many events it delivered.

    Example:
        >>> MonitorRun("m", "monitor:m:000001", False, 10, 4, 4, 4, 0.0, [], [], 0, 0)
        MonitorRun(monitor:m:000001: 10 new traces, 4 sampled, 4 evaluated (4 results, $0.0000), 0 alert(s) fired, 0 resolved, 0 delivered)
    """

    monitor: str
    run_id: str
    resumed: bool
    considered: int
    sampled: int
    evaluated: int
    results: int
    cost_usd: float
    fired: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    delivered: int
    undelivered: int
    pushed: Any = None
    checks: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (f"MonitorRun({self.run_id}{' resumed' if self.resumed else ''}: {self.considered} new traces, "
                f"{self.sampled} sampled, {self.evaluated} evaluated ({self.results} results, ${self.cost_usd:.4f}), "
                f"{len(self.fired)} alert(s) fired, {len(self.resolved)} resolved, {self.delivered} delivered"
                + (f", {self.undelivered} left to deliver" if self.undelivered else "") + ")")

    def _repr_html_(self) -> str:
        return f"<div><b>Monitor run</b> {html.escape(repr(self))}</div>"


_OLD_SAMPLES = Table(MONITOR_SAMPLES.name, MONITOR_SAMPLES.grain,
                     tuple(c for c in MONITOR_SAMPLES.columns if c.name != "inclusion_prob"))


def _register(st: Store) -> Table:
    """Declare the ledger; a ledger written before ``inclusion_prob`` existed keeps its columns
    (its traces then count with probability 1, as they did)."""
    table = MONITOR_SAMPLES
    try:
        files = st.files("monitor_samples")
    except Exception:  # no ledger yet
        files = []
    if files:
        import pyarrow.parquet as pq

        if "inclusion_prob" not in pq.read_schema(files[0]).names:
            table = _OLD_SAMPLES
    st.register("monitor_samples", table, key=["monitor", "trace_id"])
    return table


def _dir(st: Store, name: str) -> Path:
    d = st.path / "monitor" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def run_monitor(config: Any, *, store: Any = None) -> MonitorRun:
    """One monitor pass (what ``llmops-nb monitor run --config monitor.yaml`` does).

    1. Pull from the configured connector (its own watermark), or read the store.
    2. New traces: those started after the monitor's watermark (minus ``lateness``) that are
       not in its ledger (``monitor_samples``).
    3. Sample deterministically; cap by the budget (always-include traces first).
    4. Evaluate the sample with the configured evaluators (results carry the run id; a resumed
       run skips what is done and the LLM cache pays nothing twice).
    5. Time series, SLO checks with 95% intervals, drift: written under ``<store>/monitor/<name>/``.
    6. An alert fires once when an SLO starts to miss and resolves when it recovers; events
       are queued in the store before delivery and removed once delivered.

    Example:
        >>> import tempfile, llmops_nb as lo
        >>> from llmops_nb.demo import generate
        >>> st = lo.Store(tempfile.mkdtemp()); _ = st.add_spans(generate(20, seed=1).spans)
        >>> run = run_monitor({"name": "m", "evaluators": ["refusal"], "slos": {"error_rate": "<= 0.5"}}, store=st)
        >>> run.considered, run.evaluated, len(run.fired)
        (20, 20, 0)
    """
    from llmops_nb.evals import evaluate, load_evaluator

    cfg = load_config(config)
    st = as_store(store if store is not None else cfg.store)
    st.ensure()
    ledger_table = _register(st)
    name = cfg.name
    key = f"monitor/{name}"
    if cfg.source:
        src = dict(cfg.source)
        conn = src.pop("connector", None)
        if not conn:
            raise ValueError(f"monitor {name}: source needs a connector, e.g. source: {{connector: langfuse}}")
        from llmops_nb.connectors import pull

        pull(conn, store=st, progress=False, **src)
    evaluators = [load_evaluator(e) for e in cfg.evaluators]
    state = st.get_state(key) or {}
    pending = state.get("pending")
    resumed = pending is not None
    if pending is None:
        n = int(state.get("runs", 0)) + 1
        pending = {"run_id": f"monitor:{name}:{n:06d}", "started_at": str(_now())}
        st.update_state(key, lambda s: {**(s or {}), "runs": n, "pending": pending}, default={})
    run_id = pending["run_id"]

    # ---- 2-3: the ledger rows of this run (decided once; a resumed run reads them back)
    ledger = st.read("monitor_samples", "monitor = ? AND run_id = ?", [name, run_id])
    considered_max = None
    if not len(ledger):
        wm = state.get("watermark")
        start = None if wm is None else pd.Timestamp(wm) - pd.Timedelta(cfg.lateness)
        cand = st.traces(start=start) if start is not None else st.traces()
        seen = st.read("monitor_samples", "monitor = ?", [name])["trace_id"]
        cand = cand[~cand["trace_id"].isin(set(seen))].reset_index(drop=True)
        dec = _decide(cand, cfg.sampling)
        day = str(_now().date())
        spent = (state.get("spent") or {}).get(day, {})
        allowed = [cfg.budget.get("traces_per_run"), None]
        if cfg.budget.get("traces_per_day") is not None:
            allowed[1] = max(0, int(cfg.budget["traces_per_day"]) - int(spent.get("traces", 0)))
        cap = min([int(a) for a in allowed if a is not None], default=None)
        if cap is not None and dec["sampled"].sum() > cap:
            order = dec[dec["sampled"]].sort_values(["_always", "_u"], ascending=[False, True]).index
            over = order[cap:]
            dec.loc[over, "sampled"] = False
            dec.loc[over, "reason"] = "over budget"
            # the cap keeps the lowest hash positions of the class it cuts into: a trace of that
            # class is kept when its position is below the last one kept (the hash is uniform)
            for cls in (True, False):
                cut = dec.loc[over, "_always"].to_numpy(bool) == cls
                kept = dec["sampled"].to_numpy(bool) & (dec["_always"].to_numpy(bool) == cls)
                if cut.any():
                    last = float(dec.loc[kept, "_u"].max()) if kept.any() else 0.0
                    dec.loc[dec["_always"] == cls, "inclusion_prob"] = np.minimum(
                        dec.loc[dec["_always"] == cls, "inclusion_prob"], last)
        ledger = dec.drop(columns=["_always", "_u"]).assign(monitor=name, run_id=run_id, created_at=_now())
        ledger = ledger[[c for c in ledger.columns if c in ledger_table.names]]
        if len(ledger):
            st.add("monitor_samples", ledger)
    if len(ledger):
        considered_max = str(pd.to_datetime(ledger["start_time"], utc=True).max())
    todo = ledger[ledger["sampled"].astype(bool)]["trace_id"].tolist()

    # ---- 4: evaluate (chunked; each chunk's results are in the store before the next starts)
    usd_left = None
    day = str(_now().date())
    if cfg.budget.get("usd_per_run") is not None or cfg.budget.get("usd_per_day") is not None:
        spent_usd = float(((state.get("spent") or {}).get(day) or {}).get("usd", 0.0))
        caps = [float(cfg.budget["usd_per_run"])] if cfg.budget.get("usd_per_run") is not None else []
        if cfg.budget.get("usd_per_day") is not None:
            caps.append(max(0.0, float(cfg.budget["usd_per_day"]) - spent_usd))
        usd_left = min(caps)
    new_results = []
    if evaluators and todo:
        for i in range(0, len(todo), max(1, int(cfg.chunk))):
            ids = todo[i:i + int(cfg.chunk)]
            spans = st.spans(trace_id=ids, whole_traces=True)
            from llmops_nb.traces import to_traces

            frame = to_traces(spans)
            spent_now = float(pd.to_numeric(st.read("results", "run_id = ?", [run_id])["cost_usd"], errors="coerce").fillna(0).sum())
            budget = None if usd_left is None else max(0.0, usd_left - spent_now)
            res = evaluate(frame, evaluators, store=st, run_id=run_id, spans=spans, budget_usd=budget, progress=False)
            new_results.append(res)
    results_run = st.read("results", "run_id = ?", [run_id])
    cost = float(pd.to_numeric(results_run["cost_usd"], errors="coerce").fillna(0).sum())

    # ---- write back
    pushed = None
    if cfg.push is not None:
        from llmops_nb.connectors import push

        p = dict(cfg.push)
        pushed = push(p.pop("target"), results=results_run, store=st, progress=False, **p)

    # ---- 5: time series over the history, SLO checks, drift
    # the history window ends at the newest trace (not the clock: backfills and replays work too)
    tmax = st.sql("SELECT max(start_time) AS t FROM spans")["t"].iloc[0] if st.count("spans") else None
    if tmax is None or pd.isna(tmax) or not cfg.history:
        traces_all = st.traces()
    else:
        t = pd.Timestamp(tmax)
        t = t.tz_localize("UTC") if t.tzinfo is None else t
        traces_all = st.traces(start=t - pd.Timedelta(cfg.history))
    mine = st.read("results", "run_id LIKE ?", [f"monitor:{name}:%"])
    d = _dir(st, name)
    # pass rates weighted by 1 / inclusion probability: slices sampled at other rates and
    # always-included traces do not skew them (ledgers written before the column count as 1)
    led = st.read("monitor_samples", "monitor = ? AND sampled", [name])
    probs = (pd.Series(pd.to_numeric(led["inclusion_prob"], errors="coerce").fillna(1.0).to_numpy(float),
                       index=led["trace_id"].to_numpy()) if "inclusion_prob" in led.columns else pd.Series(dtype=float))
    probs = probs[probs > 0]
    ts = (timeseries(traces_all, results=mine, by=list(cfg.by) or None, freq=cfg.freq, sample_probs=probs)
          if len(traces_all) else pd.DataFrame())
    checks = check_slos(ts, cfg.slos, significant_only=cfg.significant_only).checks if len(ts) and cfg.slos else pd.DataFrame()
    _write_parquet(ts, d / "timeseries.parquet")
    _write_parquet(checks, d / "slo.parquet")
    dr = _drift(st, traces_all, cfg) if cfg.drift is not None and len(traces_all) else None
    if dr is not None:
        _write_parquet(dr, d / "drift.parquet")

    # ---- 6: alert transitions (once per breach), queued in the store, then delivered
    latest = _latest(checks, list(cfg.by))
    fired: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []

    def transition(s: Any) -> Any:
        s = dict(s or {})
        alerts = dict(s.get("alerts") or {})
        outbox = list(s.get("outbox") or [])
        hist = list(s.get("alert_history") or [])
        fired.clear()
        resolved.clear()
        for k, row in latest.items():
            cur = alerts.get(k) or {}
            firing = cur.get("status") == "firing"
            ev = None
            if row["missed"] and not firing:
                cur = {"status": "firing", "since": row["period"], "run_id": run_id}
                ev = "firing"
            elif not row["missed"] and firing:
                cur = {**cur, "status": "resolved", "resolved_at": row["period"], "resolved_run_id": run_id}
                ev = "resolved"
            if ev is None:
                continue
            alerts[k] = cur
            event = {"event_id": f"{name}:{k}:{cur['since']}:{ev}", "event": ev, "monitor": name, "key": k,
                     "run_id": run_id, **{c: row[c] for c in ("metric", "value", "ci_low", "ci_high", "target", "n", "period")},
                     "group": row.get("group", ""), "since": cur["since"], "at": str(_now())}
            event = {k2: (None if isinstance(v, float) and np.isnan(v) else v) for k2, v in event.items()}
            outbox.append(event)
            hist.append(event)
            (fired if ev == "firing" else resolved).append(event)
        s["alerts"], s["outbox"], s["alert_history"] = alerts, outbox, hist[-1000:]
        return s

    st.update_state(key, transition, default={})
    delivered = 0
    failures: list[str] = []
    for event in list((st.get_state(key) or {}).get("outbox") or []):
        sent = set(event.get("_sent") or [])
        for i, ch in enumerate(cfg.notify):
            if str(i) in sent:
                continue
            try:
                notify(ch, event)
            except Exception as e:  # delivery failures keep the event queued for the next run
                failures.append(f"{event['event_id']} via {list(ch)[0]}: {type(e).__name__}: {e}")
                continue
            sent.add(str(i))
            eid = event["event_id"]
            st.update_state(key, _mark_sent(eid, sorted(sent)))
        if len(sent) == len(cfg.notify):
            delivered += 1
            st.update_state(key, _drop_event(event["event_id"]))
    left = len((st.get_state(key) or {}).get("outbox") or [])

    # ---- finish: advance the watermark, account the spend, clear the pending run
    evaluated = int(results_run["trace_id"].nunique()) if len(results_run) else 0

    def finish(s: Any) -> Any:
        s = dict(s or {})
        if considered_max is not None and (s.get("watermark") is None or pd.Timestamp(considered_max) > pd.Timestamp(s["watermark"])):
            s["watermark"] = considered_max
        spent = dict(s.get("spent") or {})
        today = dict(spent.get(day) or {})
        today["traces"] = int(today.get("traces", 0)) + len(todo)
        today["usd"] = float(today.get("usd", 0.0)) + cost
        spent = {k: v for k, v in spent.items() if k >= str((_now() - pd.Timedelta("31D")).date())}
        spent[day] = today
        s["spent"] = spent
        runs = list(s.get("run_log") or [])
        runs.append({"run_id": run_id, "finished_at": str(_now()), "considered": len(ledger), "sampled": len(todo),
                     "evaluated": evaluated, "results": len(results_run), "cost_usd": cost, "resumed": resumed,
                     "fired": len(fired), "resolved": len(resolved), "delivery_failures": failures})
        s["run_log"] = runs[-1000:]
        s["pending"] = None
        return s

    st.update_state(key, finish, default={})
    return MonitorRun(monitor=name, run_id=run_id, resumed=resumed, considered=len(ledger), sampled=len(todo),
                      evaluated=evaluated, results=len(results_run), cost_usd=cost, fired=list(fired),
                      resolved=list(resolved), delivered=delivered, undelivered=left, pushed=pushed, checks=checks, drift=dr)


def _mark_sent(eid: str, sent: list[str]) -> Any:
    def update(s: dict[str, Any]) -> dict[str, Any]:
        return {**s, "outbox": [{**e, "_sent": sent} if e["event_id"] == eid else e for e in s.get("outbox") or []]}
    return update


def _drop_event(eid: str) -> Any:
    def update(s: dict[str, Any]) -> dict[str, Any]:
        return {**s, "outbox": [e for e in s.get("outbox") or [] if e["event_id"] != eid]}
    return update


def _latest(checks: pd.DataFrame, by: list[str]) -> dict[str, dict[str, Any]]:
    """The check of the latest period with a value, per (metric, group)."""
    out: dict[str, dict[str, Any]] = {}
    if not len(checks):
        return out
    c = checks[checks["value"].notna()].sort_values("period")
    for r in c.to_dict("records"):
        group = ", ".join(f"{g}={r[g]}" for g in by if g in r)
        r["group"] = group
        r["period"] = str(r["period"])
        out[f"{r['metric']}|{group}"] = r
    return out


def _drift(st: Store, traces: pd.DataFrame, cfg: MonitorConfig) -> pd.DataFrame:
    d = dict(cfg.drift or {})
    t = pd.to_datetime(traces["start_time"], utc=True)
    if d.get("reference"):
        ref = traces[(t >= pd.Timestamp(d["reference"]["start"], tz="UTC")) & (t < pd.Timestamp(d["reference"]["end"], tz="UTC"))]
        ref_end = pd.Timestamp(d["reference"]["end"], tz="UTC")
    else:
        ref_end = t.min().floor("1D") + pd.Timedelta(days=float(d.get("reference_days", 7)))
        ref = traces[t < ref_end]
    rows = []
    tmax = t.max()
    for w in d.get("windows", ["1D", "7D"]):
        start = (tmax.floor(cfg.freq) if w == cfg.freq else tmax - pd.Timedelta(w))
        cur = traces[(t >= max(start, ref_end))]
        if not len(cur) or not len(ref):
            continue
        out = drift_of(ref, cur, text=d.get("text", "input_text"), n_topics=int(d.get("n_topics", 8)))
        out.insert(0, "window", w)
        out.insert(1, "window_start", max(start, ref_end))
        rows.append(out)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


@dataclass
class MonitorOverview:
    """What a monitor wrote: ``timeseries``, SLO ``checks`` (values, intervals, targets),
    ``alerts`` (every fired/resolved event), ``active`` alerts, ``drift`` and the ``runs``.

    Example:
        >>> import tempfile
        >>> read_monitor(tempfile.mkdtemp(), "prod")
        MonitorOverview('prod': 0 runs, 0 periods, 0 alert events, firing: none)
    """

    monitor: str
    timeseries: pd.DataFrame
    checks: pd.DataFrame
    alerts: pd.DataFrame
    active: dict[str, Any]
    drift: pd.DataFrame
    runs: pd.DataFrame

    def __repr__(self) -> str:
        firing = [k for k, v in self.active.items() if v.get("status") == "firing"]
        return (f"MonitorOverview({self.monitor!r}: {len(self.runs)} runs, {len(self.timeseries)} periods, "
                f"{len(self.alerts)} alert events, firing: {firing or 'none'})")

    def _repr_html_(self) -> str:
        firing = [k for k, v in self.active.items() if v.get("status") == "firing"]
        colour = "#b00" if firing else "#070"
        return (f"<div><b>Monitor {html.escape(self.monitor)}</b>: {len(self.runs)} runs, "
                f"<span style='color:{colour}'>firing: {html.escape(', '.join(firing) or 'none')}</span>"
                + (self.drift.to_html(index=False, float_format=lambda v: f'{v:.3g}') if len(self.drift) else "")
                + "</div>")


def read_monitor(store: Any = None, name: str = "default") -> MonitorOverview:
    """What :func:`run_monitor` wrote for monitor ``name`` (for the production overview notebook).

    Example:
        >>> import tempfile
        >>> read_monitor(tempfile.mkdtemp(), "prod").runs.shape[0]
        0
    """
    st = as_store(store)
    d = st.path / "monitor" / name

    def rd(f: str) -> pd.DataFrame:
        p = d / f
        return pd.read_parquet(p) if p.exists() else pd.DataFrame()

    s = st.get_state(f"monitor/{name}") or {}
    return MonitorOverview(name, rd("timeseries.parquet"), rd("slo.parquet"), pd.DataFrame(s.get("alert_history") or []),
                           dict(s.get("alerts") or {}), rd("drift.parquet"), pd.DataFrame(s.get("run_log") or []))


def parse_every(text: str) -> float:
    """Seconds in ``10m``, ``1h``, ``30s``, ``1d``.

    Example:
        >>> parse_every("10m"), parse_every("1h")
        (600.0, 3600.0)
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    if not t or t[-1] not in units:
        raise ValueError(f"--every {text!r}: give a number with a unit s, m, h or d, e.g. 10m")
    return float(t[:-1]) * units[t[-1]]


def run_forever(config: Any, every: str, *, store: Any = None, runs: int | None = None) -> None:
    """Run a pass every ``every`` (``"10m"``); a failed pass is reported and retried next time."""
    period = parse_every(every)
    k = 0
    while runs is None or k < runs:
        t0 = time.monotonic()
        try:
            print(run_monitor(config, store=store), flush=True)
        except Exception as e:  # a loop survives one bad pass; the next resumes it
            print(f"monitor pass failed: {type(e).__name__}: {e}", flush=True)
        k += 1
        if runs is None or k < runs:
            time.sleep(max(0.0, period - (time.monotonic() - t0)))

