"""``evaluate``: run evaluators over a spans or traces frame into the long results table
(``wide``, the view back onto spans or traces, lives in :mod:`llmops_nb.results`)."""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._secrets import scrub
from llmops_nb.engines import Engine, resolve_engine
from llmops_nb.evals._base import EvaluationReason, Evaluator, load_evaluator, outputs_of
from llmops_nb.llm import CallCache, LLMConfigError, Runner, bind_runner, progress_bar, run_sync
from llmops_nb.schema import RESULTS, grain_of

__all__ = ["evaluate", "aevaluate", "new_run_id"]

_FLUSH_ROWS = 500
_FLUSH_S = 5.0


def new_run_id() -> str:
    """A fresh run id: ``run-<UTC time>-<random>``.

    Example:
        >>> new_run_id().startswith("run-")
        True
    """
    return f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def _obj(v: Any) -> np.ndarray:
    if isinstance(v, np.ndarray) and v.dtype == object:
        return v
    a = np.empty(len(v), dtype=object)
    a[:] = list(v) if not isinstance(v, list) else v
    return a


def _results_frame(cols: Mapping[str, Any], n: int) -> pd.DataFrame:
    """A frame with the RESULTS columns and dtypes, built column-wise (no per-row conversion).

    A column value is a sequence of ``n`` values or one scalar for every row."""
    out: dict[str, Any] = {}
    for c in RESULTS.columns:
        v: Any = cols.get(c.name)
        scalar = v is None or not isinstance(v, (list, tuple, np.ndarray, pd.Series))
        if c.kind == "time":
            if scalar and isinstance(v, (pd.Timestamp, datetime.datetime)):
                v = pd.Timestamp(v)
                ts = np.full(n, v.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[us]"))
                out[c.name] = pd.DatetimeIndex(ts).tz_localize("UTC").array
            else:
                out[c.name] = pd.to_datetime(pd.Series([None] * n if v is None else list(v)), utc=True).astype(
                    "datetime64[us, UTC]").array
        elif c.kind == "float":
            if scalar:
                out[c.name] = np.full(n, np.nan if v is None else float(v))
            else:
                out[c.name] = np.asarray([np.nan if x is None else x for x in v] if not isinstance(v, np.ndarray) else v,
                                         dtype="float64")
        elif c.kind == "int":
            out[c.name] = pd.array([v] * n if scalar else list(v), dtype="Int64")
        elif c.kind == "bool":
            if isinstance(v, np.ndarray) and v.dtype == bool:
                out[c.name] = pd.arrays.BooleanArray(v, np.zeros(n, dtype=bool))
            else:
                out[c.name] = pd.array([v] * n if scalar else list(v), dtype="boolean")
        else:  # str and json: Python objects, None for missing
            if scalar:
                a = np.empty(n, dtype=object)
                a[:] = [v] * n if isinstance(v, (dict, list)) else v
                out[c.name] = a
            else:
                out[c.name] = _obj(v)
    return pd.DataFrame(out, copy=False)


def _concat_results(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Result frames one after the other, with the dtypes :func:`_results_frame` gives the whole
    (a text column is ``str`` when it holds a string, so a part with no error and one with an
    error must not leave ``error`` as ``object``)."""
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for c in RESULTS.columns:
        if c.kind not in ("time", "float", "int", "bool") and c.name in out.columns and out[c.name].dtype == object:
            out[c.name] = pd.Series(out[c.name].to_numpy(dtype=object), index=out.index)
    return out


def _items(frame: pd.DataFrame, level: str, spans: pd.DataFrame | None) -> tuple[pd.DataFrame, list[Any], list[Any], pd.DataFrame | None]:
    """The frame to evaluate at ``level``, with its trace and span ids, and whether rows carry
    their trace's spans."""
    is_spans = grain_of(frame) == "spans"
    if level == "session":
        from llmops_nb.sessions import session_items

        items, with_spans = session_items(frame, spans)
        return items, items["session_id"].tolist(), [None] * len(items), with_spans
    if level == "trace":
        if is_spans:
            from llmops_nb.traces import to_traces

            if spans is None:
                spans = frame
            else:  # whole traces of the spans given, for the traces that frame touches
                spans = spans[spans["trace_id"].isin(set(frame["trace_id"]))]
            items = to_traces(spans)
        else:
            items = frame
        return items, items["trace_id"].tolist(), [None] * len(items), spans
    if is_spans:
        return frame, frame["trace_id"].tolist(), frame["span_id"].tolist(), None
    tid = frame["trace_id"].tolist() if "trace_id" in frame.columns else [str(i) for i in frame.index]
    sid = frame["span_id"].tolist() if "span_id" in frame.columns else [None] * len(frame)
    return frame, tid, sid, None


def _resolve_cache(cache: Any, store: Any) -> Any:
    if cache is False or cache is None:
        return False
    if isinstance(cache, CallCache):
        return cache
    if cache is True:
        if store is not None:
            return Path(store.path) / "cache" / "llm_cache.sqlite"
        return True
    return Path(os.fspath(cache))


class _Sink:
    """Collects result rows; writes them to the store in batches so an interrupted run keeps them."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.frames: list[pd.DataFrame] = []
        self.pending: list[dict[str, Any]] = []
        self.unflushed: list[pd.DataFrame] = []
        self.last = time.monotonic()

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        self.pending.extend(rows)
        if self.store is not None and (len(self.pending) >= _FLUSH_ROWS or time.monotonic() - self.last > _FLUSH_S):
            self.flush()

    def add_frame(self, df: pd.DataFrame) -> None:
        self.seal()
        self.frames.append(df)
        self.unflushed.append(df)

    def seal(self) -> None:
        """Close the current evaluator's rows (kept in item order)."""
        df = self._pending_frame()
        if df is not None:
            self.frames.append(df)
            self.unflushed.append(df)

    def _pending_frame(self) -> pd.DataFrame | None:
        if not self.pending:
            return None
        self.pending.sort(key=lambda r: r.get("_i", 0))
        cols = {c.name: [r.get(c.name) for r in self.pending] for c in RESULTS.columns}
        df = _results_frame(cols, len(self.pending))
        self.pending = []
        return df

    def flush(self) -> None:
        self.seal()
        if self.store is not None and self.unflushed:
            data = pd.concat(self.unflushed, ignore_index=True) if len(self.unflushed) > 1 else self.unflushed[0]
            self.store.add("results", data, on_conflict="replace")
        self.unflushed = []
        self.last = time.monotonic()

    def result(self) -> pd.DataFrame:
        df = self._pending_frame()
        if df is not None:
            self.frames.append(df)
        if not self.frames:
            return _results_frame({}, 0)
        frames = [f for f in self.frames if len(f)]
        if not frames:
            return _results_frame({}, 0)
        return _concat_results(frames)


def _done_keys(store: Any, run_id: str) -> set[tuple[Any, Any, str]]:
    if store is None:
        return set()
    prev = None
    for item in ("coalesce(trace_id, session_id)", "trace_id"):  # stores written before sessions lack session_id
        try:
            prev = store.sql(
                f"SELECT {item} AS trace_id, span_id, params_hash, bool_or(error IS NOT NULL) AS failed FROM results "
                "WHERE run_id = ? GROUP BY ALL", [run_id])
            break
        except Exception:
            continue
    if prev is None:
        return set()
    prev = prev[~prev["failed"].astype(bool)]
    return {(t, None if s is None or s != s else s, h) for t, s, h in zip(prev["trace_id"], prev["span_id"], prev["params_hash"])}


def _base(ev: Evaluator, run_id: str, h: str) -> dict[str, Any]:
    return {"run_id": run_id, "evaluator_version": str(ev.version), "params_hash": h, "params": ev.params(),
            "_session": ev.level == "session"}


async def _run_part(ev: Evaluator, base: dict[str, Any], sub: pd.DataFrame, stids: list[Any], ssids: list[Any],
                    with_spans: pd.DataFrame | None, runner: Runner, sink: _Sink, bar: Any) -> None:
    """Evaluate the rows ``sub`` (ids ``stids``/``ssids``) with one evaluator into ``sink``: the
    same code in this process and on each Ray task, so both give the same rows."""
    batch = getattr(ev, "evaluate_batch", None)
    if batch is not None and (with_spans is None or ev.level == "session"):
        t0 = time.perf_counter()
        try:
            outs = list(batch(sub))
            if len(outs) != len(sub):
                raise ValueError(f"evaluate_batch returned {len(outs)} values for {len(sub)} rows")
        except Exception:
            outs = None
        if outs is not None:
            per_row_ms = (time.perf_counter() - t0) * 1000 / max(1, len(sub))
            _emit_batch(sink, ev, base, stids, ssids, outs, per_row_ms)
            if bar is not None:
                bar.update(len(sub))
            if sink.store is not None:
                sink.flush()
            return
    records = sub.to_dict("records")
    if with_spans is not None:
        key = "session_id" if ev.level == "session" else "trace_id"
        groups = dict(tuple(with_spans.groupby(key, sort=False)))
        for r in records:
            r["spans"] = groups.get(r[key])
    is_async = inspect.iscoroutinefunction(ev.evaluate)
    if is_async:
        async def one(i: int, ev: Evaluator = ev, base: dict[str, Any] = base, records: list[Any] = records,
                      stids: list[Any] = stids, ssids: list[Any] = ssids) -> None:
            t0 = time.perf_counter()
            try:
                out = await ev.evaluate(records[i])
                rows = _rows(ev, base, stids[i], ssids[i], out, (time.perf_counter() - t0) * 1000)
            except LLMConfigError:
                raise  # a missing key or a wrong model: stop the run, charge no row
            except Exception as e:  # noqa: BLE001 - an evaluator's failure is a result row
                rows = [_error_row(ev, base, stids[i], ssids[i], e, (time.perf_counter() - t0) * 1000)]
            for r in rows:
                r["_i"] = i
            sink.add_rows(rows)
            if bar is not None:
                bar.update(1)

        await runner.amap(one, list(range(len(records))), progress=False)
        sink.seal()
    else:
        for i, r in enumerate(records):
            t0 = time.perf_counter()
            try:
                out = ev.evaluate(r)
                if inspect.isawaitable(out):
                    out = await out
                rows = _rows(ev, base, stids[i], ssids[i], out, (time.perf_counter() - t0) * 1000)
            except LLMConfigError:
                raise
            except Exception as e:  # noqa: BLE001
                rows = [_error_row(ev, base, stids[i], ssids[i], e, (time.perf_counter() - t0) * 1000)]
            sink.add_rows(rows)
            if bar is not None:
                bar.update(1)
        sink.seal()


async def aevaluate(
    frame: pd.DataFrame,
    evaluators: Evaluator | str | Mapping[str, Any] | Sequence[Evaluator | str | Mapping[str, Any]],
    *,
    concurrency: int = 8,
    cache: bool | str | os.PathLike[str] | CallCache = True,
    budget_usd: float | None = None,
    store: Any = None,
    run_id: str | None = None,
    progress: bool | None = None,
    runner: Runner | None = None,
    spans: pd.DataFrame | None = None,
    requests_per_minute: int | Mapping[str, int] | None = None,
    tokens_per_minute: int | Mapping[str, int] | None = None,
    max_retries: int = 8,
    timeout_s: float = 60.0,
    engine: str | Engine | None = None,
) -> pd.DataFrame:
    """The async form of :func:`evaluate` (same arguments), for code already in an event loop.

    Example:
        >>> import asyncio, llmops_nb as lo
        >>> from llmops_nb.evals import IsJSON
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "output_text": "{}"}],
        ...                        format="records")
        >>> asyncio.run(aevaluate(spans, [IsJSON()], cache=False))["passed"].tolist()
        [True]
    """
    evs = _as_evaluators(evaluators)
    eng = resolve_engine(engine)
    run_id = run_id or new_run_id()
    if runner is None:
        runner = Runner(concurrency=concurrency, cache=_resolve_cache(cache, store), budget_usd=budget_usd,
                        requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                        max_retries=max_retries, timeout_s=timeout_s)
    done = _done_keys(store, run_id) if store is not None else set()
    sink = _Sink(store)
    unbind = bind_runner(runner)
    plans = []
    total = 0
    for ev in evs:
        items, tids, sids, with_spans = _items(frame, ev.level, spans)
        if (with_spans is None and spans is not None and getattr(ev, "wants_spans", False)
                and "root_span_id" in items.columns):  # a traces table: judges read documents from its spans
            with_spans = spans[spans["trace_id"].isin(set(items["trace_id"]))]
        check = getattr(ev, "check_frame", None)
        if check is not None:  # a judge whose fields the frame lacks fails here, before any call
            check(items, with_spans=with_spans is not None)
        h = ev.params_hash
        keep = [i for i in range(len(items)) if (tids[i], sids[i], h) not in done] if done else list(range(len(items)))
        plans.append((ev, items, tids, sids, with_spans, keep, h))
        total += len(keep)
    if eng.is_ray:
        unbind()
        return _evaluate_on_ray(eng, plans, total, run_id, runner, store, progress)
    bar = progress_bar(total, "evaluate", progress)
    try:
        for ev, items, tids, sids, with_spans, keep, h in plans:
            if not keep:
                continue
            base = _base(ev, run_id, h)
            sub = items if len(keep) == len(items) else items.iloc[keep]
            await _run_part(ev, base, sub, [tids[i] for i in keep], [sids[i] for i in keep], with_spans, runner,
                            sink, bar)
    finally:
        unbind()
        if bar is not None:
            bar.close()
        if store is not None:
            sink.flush()
    return sink.result()


def evaluate(
    frame: pd.DataFrame,
    evaluators: Evaluator | str | Mapping[str, Any] | Sequence[Evaluator | str | Mapping[str, Any]],
    *,
    concurrency: int = 8,
    cache: bool | str | os.PathLike[str] | CallCache = True,
    budget_usd: float | None = None,
    store: Any = None,
    run_id: str | None = None,
    progress: bool | None = None,
    runner: Runner | None = None,
    spans: pd.DataFrame | None = None,
    requests_per_minute: int | Mapping[str, int] | None = None,
    tokens_per_minute: int | Mapping[str, int] | None = None,
    max_retries: int = 8,
    timeout_s: float = 60.0,
    engine: str | Engine | None = None,
) -> pd.DataFrame:
    """Run evaluators over a spans or traces frame; returns the results table (one row per
    item and evaluator output, see :data:`llmops_nb.schema.RESULTS`).

    - ``evaluators``: evaluators, names or specs (see :func:`load_evaluator`). Span-level
      evaluators see each row of ``frame``; trace-level ones (``level = "trace"``) see one row
      per trace with its spans in ``row["spans"]`` (from ``frame`` when it is a spans table,
      else from ``spans``).
    - An evaluator that raises gives an error row (``error`` set, ``value`` null); the run goes on.
      Authentication and configuration errors (no key, 401/403, an unknown model, a request
      rejected as invalid) are the exception: not retried, they stop the run at once with one
      :class:`~llmops_nb.llm.LLMConfigError` naming the environment variable or the argument to
      fix, and write no row for it. A judge whose fields the frame lacks raises before any call.
    - LLM judges share one :class:`Runner`: ``concurrency``, ``requests_per_minute``,
      ``tokens_per_minute``, retries, ``cache`` (True: under the store, or the user cache
      dir; a path; False) and ``budget_usd`` (calls past it give "budget exhausted" error rows).
    - ``store``: results are written as they come (an interrupted run keeps them);
      ``run_id``: rerunning with the same id skips the (item, evaluator) pairs already done
      without error and redoes the error rows (unparseable judge answers included: they are
      never cached), so an interrupted or budget-stopped run resumes.
    - Works inside a running event loop (Jupyter); a progress bar shows for long runs.
    - ``engine``: ``"local"`` (this process) or ``"ray"`` (default: :func:`llmops_nb.engines.current_engine`).
      On Ray, each evaluator's rows are cut into batches run as Ray tasks; judges call through a
      runner per worker that asks one cluster-wide limiter before each call (so
      ``requests_per_minute``/``tokens_per_minute`` hold for the whole cluster, per model) and
      shares one answer cache on the driver's machine (the store's), so the retry of a task whose
      worker died pays for no answer twice. ``budget_usd`` is one budget for the whole cluster:
      each worker reserves a call's expected cost from one budget actor before the call and
      settles its actual cost after (the local rule, with every worker's calls in flight
      counted), and the items past it get the same "budget exhausted" error rows. Results are
      written to ``store`` as batches finish and are the same rows as on one process.

    Example:
        >>> import llmops_nb as lo
        >>> from llmops_nb.evals import IsJSON, Regex
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm",
        ...     "output_text": '{"ok": true}'}], format="records")
        >>> res = lo.evaluate(spans, [IsJSON(), Regex("ok")], cache=False)
        >>> res[["evaluator", "value", "passed"]].values.tolist()
        [['is_json', True, True], ['regex', True, True]]
    """
    coro = aevaluate(frame, evaluators, concurrency=concurrency, cache=cache, budget_usd=budget_usd,
                     store=store, run_id=run_id, progress=progress, runner=runner, spans=spans,
                     requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                     max_retries=max_retries, timeout_s=timeout_s, engine=engine)
    return run_sync(coro)


def _ray_part(ev: Evaluator, base: dict[str, Any], sub: pd.DataFrame, stids: list[Any], ssids: list[Any],
              with_spans: pd.DataFrame | None, settings: dict[str, Any], limiter: Any, cache_actor: Any,
              prices: dict[str, Any], budget_actor: Any = None, holder: str = "") -> pd.DataFrame:
    """A Ray task: evaluate one batch of rows with a runner of this worker that shares the
    cluster's limiter, answer cache and budget; returns its result rows."""
    from llmops_nb.engines import SharedBudget, SharedCallCache, SharedLimits

    if prices:  # models priced on the driver (litellm.register_model) cost the same here
        import litellm

        new = {m: p for m, p in prices.items() if litellm.model_cost.get(m) != p}
        if new:
            litellm.register_model(new)

    budget = SharedBudget(budget_actor, holder) if budget_actor is not None else None
    if budget is not None:  # a retry after this task's worker died: settle the leases it left
        budget.start()
    runner = Runner(**settings, cache=SharedCallCache(cache_actor) if cache_actor is not None else False,
                    rate_limiter=SharedLimits(limiter) if limiter is not None else None, shared_budget=budget)

    async def go() -> pd.DataFrame:
        if limiter is not None:
            await _warm_up()
        sink = _Sink(None)
        unbind = bind_runner(runner)
        try:
            await _run_part(ev, base, sub, stids, ssids, with_spans, runner, sink, None)
        finally:
            unbind()
        return sink.result()

    return run_sync(go())


_WARM = False


async def _warm_up() -> None:
    """A worker's first LLM call sets litellm up (imports, clients): do it before taking a slot of
    the cluster's pace, so the first real call reaches the provider in its slot, not late and
    bunched with the next ones."""
    global _WARM
    if _WARM:
        return
    import litellm

    with contextlib.suppress(Exception):  # only a warm-up
        await litellm.acompletion(model="openai/warm-up", messages=[{"role": "user", "content": "hi"}],
                                  mock_response="ok")
    _WARM = True


def _evaluate_on_ray(eng: Engine, plans: list[Any], total: int, run_id: str, runner: Runner, store: Any,
                     progress: bool | None) -> pd.DataFrame:
    """Every evaluator's rows in batches on Ray tasks; batches are written to ``store`` as they
    finish and returned in the order one process gives (evaluators, then rows)."""
    from llmops_nb.engines import rate_limiter, run_tasks, shared_budget, shared_cache, tasks_for

    limiter = rate_limiter(eng) if (runner.requests_per_minute or runner.tokens_per_minute) else None
    budget_actor = shared_budget(eng, runner.budget_usd, runner.spent_usd) if runner.budget_usd is not None else None
    cache_actor = None
    setting = runner.cache_setting
    if setting is not False and setting is not None:
        path = str(setting.path) if isinstance(setting, CallCache) else (None if setting is True else os.fspath(setting))
        cache_actor = shared_cache(eng, path)
    settings = {"concurrency": runner.concurrency, "requests_per_minute": runner.requests_per_minute,
                "tokens_per_minute": runner.tokens_per_minute, "max_retries": runner.max_retries,
                "timeout_s": runner.timeout_s, "backoff_base_s": runner.backoff_base_s,
                "backoff_max_s": runner.backoff_max_s, "rate_limit_max_wait_s": runner.rate_limit_max_wait_s,
                "budget_usd": runner.budget_usd}
    prices: dict[str, Any] = {}
    if "litellm" in sys.modules:
        cost = sys.modules["litellm"].model_cost
        for ev, *_ in plans:
            model = getattr(ev, "model", None)
            for m in (model, model.split("/", 1)[-1]) if isinstance(model, str) else ():
                if m in cost:
                    prices[m] = cost[m]
    calls: list[tuple[Any, ...]] = []
    labels: list[str] = []
    weights: list[int] = []
    for ev, items, tids, sids, with_spans, keep, h in plans:
        if not keep:
            continue
        base = _base(ev, run_id, h)
        n_tasks = tasks_for(eng, len(keep))
        bounds = [round(i * len(keep) / n_tasks) for i in range(n_tasks + 1)]
        key = "session_id" if ev.level == "session" else "trace_id"
        for a, b in zip(bounds, bounds[1:]):
            if b <= a:
                continue
            rows = keep[a:b]
            sub = items.iloc[rows]
            ws = None
            if with_spans is not None:
                ws = with_spans[with_spans[key].isin(set(sub[key]))]
            label = f"evaluator {ev.evaluation_name!r} on rows {a}-{b - 1} (first {key} {tids[rows[0]]!r})"
            calls.append((ev, base, sub, [tids[i] for i in rows], [sids[i] for i in rows], ws, settings, limiter,
                          cache_actor, prices, budget_actor, label))
            labels.append(label)
            weights.append(b - a)
    parts: list[pd.DataFrame | None] = [None] * len(calls)

    def arrived(i: int, df: pd.DataFrame) -> None:
        parts[i] = df
        if store is not None and len(df):
            store.add("results", df, on_conflict="replace")

    try:
        run_tasks(eng, _ray_part, calls, labels=labels, weights=weights, desc="evaluate", progress=progress,
                  passthrough=(LLMConfigError,), on_result=arrived)
    finally:
        if budget_actor is not None:  # the driver's runner shows the cluster's spend, as after a local run
            import ray

            with contextlib.suppress(Exception):
                state = ray.get(budget_actor.state.remote(), timeout=30)
                runner.spent_usd = state["spent_usd"]
                runner.budget_stopped = runner.budget_stopped or state["refused"] > 0
                runner.budget_state = state
                ray.kill(budget_actor)
    frames = [p for p in parts if p is not None and len(p)]
    if not frames:
        return _results_frame({}, 0)
    return _concat_results(frames)


def _as_evaluators(evaluators: Any) -> list[Evaluator]:
    if isinstance(evaluators, (Evaluator, str, Mapping)):
        evaluators = [evaluators]
    evs = [load_evaluator(e) for e in evaluators]
    if not evs:
        raise ValueError("evaluate() needs at least one evaluator")
    names = [e.evaluation_name for e in evs]
    dup = sorted({n for n in names if names.count(n) > 1})
    hashes = [e.params_hash for e in evs]
    if dup and len(set(hashes)) != len(hashes):
        raise ValueError(f"the same evaluator is given twice: {dup}")
    if dup:
        raise ValueError(
            f"several evaluators are named {dup}; give each a distinct name, e.g. Regex(..., name='has_order_id')"
        )
    return evs


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _rid(base: Mapping[str, Any], name: str, tid: Any, sid: Any) -> str:
    return f"{base['run_id']}:{base['params_hash']}:{name}:{tid}:{sid or ''}"


def _rows(ev: Evaluator, base: Mapping[str, Any], tid: Any, sid: Any, out: Any, ms: float) -> list[dict[str, Any]]:
    outs = outputs_of(ev, out)
    now = _now()
    rows = []
    for rec in outs:
        row = {**base, **rec, "trace_id": tid, "span_id": sid, "created_at": now}
        if base.get("_session"):
            row["session_id"], row["trace_id"] = tid, None
        row.setdefault("latency_ms", ms)
        if row.get("error"):
            row["value"] = row["score"] = row["label"] = row["passed"] = None
        row["result_id"] = _rid(base, rec["evaluator"], tid, sid)
        rows.append(row)
    return rows


def _error_row(ev: Evaluator, base: Mapping[str, Any], tid: Any, sid: Any, e: BaseException, ms: float) -> dict[str, Any]:
    name = ev.evaluation_name
    row = {**base, "evaluator": name, "trace_id": tid, "span_id": sid, "latency_ms": ms, "created_at": _now(),
           "error": scrub(f"{type(e).__name__}: {e}"), "result_id": _rid(base, name, tid, sid)}
    if base.get("_session"):
        row["session_id"], row["trace_id"] = tid, None
    return row


def _emit_batch(sink: _Sink, ev: Evaluator, base: Mapping[str, Any], tids: list[Any], sids: list[Any],
                outs: list[Any], per_row_ms: float) -> None:
    """Turn ``evaluate_batch`` outputs into result rows. Plain bools and numbers (bare or in an
    EvaluationReason) are built column-wise; anything else goes row by row."""
    name = ev.evaluation_name
    idx: list[int] = []
    vals: list[Any] = []
    expl: list[Any] = []
    slow_idx: list[int] = []
    n_bool = 0
    er = EvaluationReason
    types = set(map(type, outs))
    if types == {bool} or types == {float}:  # the common vectorised case: one plain value per row
        idx = list(range(len(outs)))
        vals = outs
        expl = [None] * len(outs)
        n_bool = len(outs) if types == {bool} else 0
        outs = []
    for i, o in enumerate(outs):
        c = o.__class__
        if c is bool or c is np.bool_:
            idx.append(i)
            vals.append(o)
            expl.append(None)
            n_bool += 1
        elif o is None:
            continue
        elif c is float or c is int or c is np.float64 or c is np.int64:
            idx.append(i)
            vals.append(o)
            expl.append(None)
        elif c is er and o.value.__class__ in (bool, float, int):
            idx.append(i)
            vals.append(o.value)
            expl.append(o.reason)
            n_bool += o.value.__class__ is bool
        else:
            slow_idx.append(i)
    if idx and 0 < n_bool < len(idx):  # mixed bools and numbers: row by row
        slow_idx = sorted(slow_idx + idx)
        idx = []
    now = _now()
    frames: list[tuple[list[int], pd.DataFrame]] = []
    if idx:
        n = len(idx)
        if n_bool:
            b = np.asarray(vals, dtype=bool)
            passed = ~b if ev.detector else b
            cols: dict[str, Any] = {"value": b.astype(object), "score": b.astype("float64"),
                                    "label": np.where(passed, "pass", "fail").astype(object), "passed": passed}
        else:
            f = np.asarray(vals, dtype="float64")
            cols = {"value": f.tolist(), "score": f, "passed": [ev.passed_of(x) for x in f.tolist()]}
        if len(idx) == len(tids):
            ft, fs = tids, sids
        else:
            ft = [tids[i] for i in idx]
            fs = [sids[i] for i in idx]
        prefix = f"{base['run_id']}:{base['params_hash']}:{name}:"
        cols.update(base)
        cols.update({"evaluator": name, "trace_id": ft, "span_id": fs, "latency_ms": per_row_ms, "created_at": now,
                     "explanation": expl, "result_id": [f"{prefix}{t}:{s or ''}" for t, s in zip(ft, fs)]})
        cols["params"] = [base["params"]] * n
        if base.get("_session"):
            cols["session_id"], cols["trace_id"] = ft, None
        frames.append((idx, _results_frame(cols, n)))
    if slow_idx:
        rows: list[dict[str, Any]] = []
        order: list[int] = []
        for i in slow_idx:
            o = outs[i]
            o = o.item() if hasattr(o, "item") and not isinstance(o, (str, bytes)) else o
            for row in _rows(ev, base, tids[i], sids[i], o, per_row_ms):
                rows.append(row)
                order.append(i)
        sc = {c.name: [r.get(c.name) for r in rows] for c in RESULTS.columns}
        frames.append((order, _results_frame(sc, len(rows))))
    if not frames:
        return
    if len(frames) == 1:
        sink.add_frame(frames[0][1])
        return
    both = pd.concat([f for _, f in frames], ignore_index=True)
    pos = np.argsort(np.concatenate([np.asarray(o) for o, _ in frames]), kind="stable")
    sink.add_frame(both.iloc[pos].reset_index(drop=True))
