"""Running experiments: a prompt version with a model, or any user function, over a dataset
version; every step recorded as a trace; outputs evaluated; the whole record kept in the store
so the experiment can be reproduced."""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import html
import inspect
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from llmops_nb._compat import removed_argument
from llmops_nb.results import pass_rates
from llmops_nb.schema import Column, Table, is_missing
from llmops_nb.store import Store, as_store

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "EXPERIMENT_OUTPUTS",
    "run_experiment",
    "evaluate_experiment",
    "load_experiment",
    "list_experiments",
    "reproduce",
]

EXPERIMENTS = Table(
    "experiments",
    "one row per experiment",
    (
        Column("experiment_id", "str", "Experiment id (stable for the same configuration and name).", True),
        Column("name", "str", "Experiment name."),
        Column("dataset", "str", "Dataset name (or 'inline' for a frame passed directly)."),
        Column("dataset_version", "int", "Dataset version."),
        Column("prompt", "str", "Prompt reference name@version, when the task is a prompt."),
        Column("model", "str", "Model under test."),
        Column("task", "str", "Task: 'prompt' or the user function's module:qualname."),
        Column("config", "json", "Everything needed to reproduce: dataset, prompt, model and params, task params, evaluators with versions, repeats, library version."),
        Column("status", "str", "running, done, or stopped (budget or interruption)."),
        Column("n_examples", "int", "Examples run."),
        Column("created_at", "time", "When the experiment started, UTC.", True),
    ),
)
"""The experiments table: one row per experiment (re-saved when its status changes)."""

EXPERIMENT_OUTPUTS = Table(
    "experiment_outputs",
    "one row per (experiment, example, repeat)",
    (
        Column("experiment_id", "str", "Experiment id.", True),
        Column("example_id", "str", "Example id in the dataset.", True),
        Column("repeat", "int", "Repeat number, from 0.", True),
        Column("trace_id", "str", "The trace recorded for this run."),
        Column("input_text", "str", "The example's input as text."),
        Column("output_text", "str", "The task's output as text."),
        Column("expected", "str", "The example's expected output, if any."),
        Column("error", "str", "Error when the task failed."),
        Column("latency_ms", "float", "Task wall time."),
        Column("prompt_tokens", "int", "Input tokens (prompt tasks)."),
        Column("completion_tokens", "int", "Output tokens (prompt tasks)."),
        Column("cost_usd", "float", "Cost of the task's model calls."),
        Column("created_at", "time", "When it ran, UTC."),
    ),
)
"""Experiment outputs: one row per (experiment, example, repeat)."""


def _register(st: Store) -> Store:
    st.register("experiments", EXPERIMENTS, key=["experiment_id"], sort_by="created_at")
    st.register("experiment_outputs", EXPERIMENT_OUTPUTS, key=["experiment_id", "example_id", "repeat"])
    return st


@dataclass
class Experiment:
    """One experiment: its configuration, its outputs (one row per example and repeat) and its
    evaluation results (the results table, one row per output and evaluator, with
    ``example_id`` and ``repeat`` joined on).

    Example:
        >>> exp = run_experiment(dataset="faq@1", prompt="support@2", model="gpt-4o-mini",
        ...                      evaluators=[ExactMatch()])  # doctest: +SKIP
        >>> exp.summary()  # doctest: +SKIP
    """

    experiment_id: str
    name: str
    config: dict[str, Any]
    outputs: pd.DataFrame
    results: pd.DataFrame
    status: str = "done"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One row per evaluator: mean (pass rate or score), n, errors; then cost and latency."""
        rows = []
        for r in pass_rates(self.results).itertuples(index=False):
            val = r.pass_rate if r.verdicts else r.mean_score
            rows.append({"metric": r.evaluator, "value": float(val), "n": int(r.n), "errors": int(r.errors)})
        o = self.outputs
        rows.append({"metric": "cost_usd (total)", "value": float(o["cost_usd"].astype(float).sum()), "n": len(o), "errors": int(o["error"].notna().sum())})
        lat = o["latency_ms"].astype(float)
        rows.append({"metric": "latency_ms (p50)", "value": float(lat.quantile(0.5)) if len(lat) else float("nan"), "n": len(o), "errors": 0})
        rows.append({"metric": "latency_ms (p95)", "value": float(lat.quantile(0.95)) if len(lat) else float("nan"), "n": len(o), "errors": 0})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, id={self.experiment_id}, {len(self.outputs)} outputs, status={self.status})"

    def _repr_html_(self) -> str:
        c = self.config
        head = (f"<b>Experiment {html.escape(self.name)}</b> <code>{self.experiment_id}</code> &middot; "
                f"dataset {html.escape(str(c.get('dataset')))}@{c.get('dataset_version')} &middot; "
                f"task {html.escape(str(c.get('prompt') or c.get('task')))} &middot; model {html.escape(str(c.get('model')))} "
                f"&middot; {self.status}")
        return f"<div>{head}{self.summary().to_html(index=False, float_format=lambda x: f'{x:.4g}')}</div>"


# ---------------------------------------------------------------------------------- inputs

def _load_dataset(dataset: Any, store: Store) -> tuple[pd.DataFrame, str, int | None]:
    if isinstance(dataset, pd.DataFrame):
        return dataset.reset_index(drop=True), "inline", None
    if isinstance(dataset, str):
        from llmops_nb import datasets as lds

        storage = None if os.environ.get("LLMOPS_NB_DATASETS") else store
        name, _, ref = dataset.partition("@")
        if ref.isdigit():
            version = int(ref)
        elif ref:
            known = lds.tags(name, store=storage)
            if ref not in known:
                raise KeyError(f"dataset {name!r} has no tag {ref!r}; tags: {known}")
            version = int(known[ref])
        else:
            version = int(lds.history(name, store=storage)["version"].max())
        df = lds.load(name, version, as_="pandas", store=storage)
        return df.reset_index(drop=True), name, version
    try:
        import datasets as hf

        if isinstance(dataset, hf.Dataset):
            return dataset.to_pandas(), "inline", None
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"dataset={type(dataset).__name__} is not supported; pass 'name@version', a DataFrame or a datasets.Dataset")


def _example_id(row: Mapping[str, Any], i: int) -> str:
    for k in ("example_id", "id"):
        v = row.get(k)
        if v is not None and v == v:
            return str(v)
    return f"row-{i}"


def _text(v: Any) -> str | None:
    if is_missing(v):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
        msgs = list(v.tolist() if hasattr(v, "tolist") else v)
        for m in reversed(msgs):
            if isinstance(m, Mapping) and m.get("role") == "user":
                return str(m.get("content"))
        return orjson.dumps(msgs, default=str).decode()
    if isinstance(v, Mapping):
        return orjson.dumps(dict(v), default=str).decode()
    return str(v)


_EXPECTED = ("expected_output", "expected", "reference", "output")
_INPUT = ("input", "input_text", "input_messages", "question")


def _input_of(row: Mapping[str, Any]) -> str | None:
    for k in _INPUT:
        if k in row:
            t = _text(row[k])
            if t is not None:
                return t
    return None


def _expected_of(row: Mapping[str, Any]) -> str | None:
    for k in _EXPECTED:
        if k in row:
            t = _text(row[k])
            if t is not None:
                return t
    return None


def _callable_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _jsonable(v: Any) -> Any:
    return orjson.loads(orjson.dumps(v, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))


# ---------------------------------------------------------------------------------- running

def run_experiment(
    dataset: Any,
    task: Callable[..., Any] | None = None,
    *,
    prompt: Any = None,
    model: str | Sequence[str] | None = None,
    evaluators: Sequence[Any] = (),
    repeats: int = 1,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    model_params: Mapping[str, Any] | None = None,
    variables: Mapping[str, str] | None = None,
    store: Store | str | None = None,
    concurrency: int = 8,
    cache: Any = True,
    budget_usd: float | None = None,
    requests_per_minute: int | None = None,
    max_retries: int = 6,
    judge_concurrency: int | None = None,
    progress: bool | None = None,
) -> Experiment | list[Experiment]:
    """Run a task over every example of a dataset version, record each run as a trace,
    evaluate the outputs and store the experiment (reproducible from its stored record).

    The task is either a prompt version with a model (``prompt="name@version"`` or a
    :class:`~llmops_nb.prompts.Prompt`, and ``model=``; lists of prompts and/or models run a
    grid and return a list), or any function ``task(example: dict, **params)``, sync or async,
    returning the output text (or a dict with ``output``). ``variables`` maps prompt variables
    to dataset columns (default: same names; ``input`` fills a single missing variable).

    Runs reuse the judges' runner: concurrency, rate limits, retries with backoff, the on-disk
    cache (a rerun calls nothing), ``budget_usd`` (stops cleanly) and resume (re-running the
    same experiment skips what is already stored).

    Example:
        >>> exp = lo.run_experiment(dataset="support-faq@2", prompt="support@3",
        ...                         model="gpt-4o-mini", evaluators=[ExactMatch()])  # doctest: +SKIP
    """
    prompts_ = prompt if isinstance(prompt, (list, tuple)) else [prompt]
    models_ = model if isinstance(model, (list, tuple)) else [model]
    if task is None and prompt is None:
        raise ValueError("run_experiment needs a task: prompt='name@version' with model=..., or task=<function>")
    if task is not None and prompt is not None:
        raise ValueError("pass either task= (a function) or prompt= (a prompt version), not both")
    if repeats < 1:
        raise ValueError(f"repeats={repeats}; it must be at least 1")
    grid = list(itertools.product(prompts_, models_))
    out = [
        _run_one(dataset, task, prompt=p, model=m, evaluators=evaluators, repeats=repeats,
                 name=name if len(grid) == 1 else None, base_name=name, params=params, model_params=model_params,
                 variables=variables, store=store, concurrency=concurrency, cache=cache, budget_usd=budget_usd,
                 requests_per_minute=requests_per_minute, max_retries=max_retries,
                 judge_concurrency=judge_concurrency, progress=progress)
        for p, m in grid
    ]
    return out[0] if len(out) == 1 else out


def _run_one(dataset: Any, task: Callable[..., Any] | None, *, prompt: Any, model: str | None, evaluators: Sequence[Any],
             repeats: int, name: str | None, base_name: str | None, params: Mapping[str, Any] | None,
             model_params: Mapping[str, Any] | None, variables: Mapping[str, str] | None, store: Any,
             concurrency: int, cache: Any, budget_usd: float | None, requests_per_minute: int | None,
             max_retries: int, judge_concurrency: int | None, progress: bool | None) -> Experiment:
    import llmops_nb
    from llmops_nb import prompts as lprompts
    from llmops_nb.evals import load_evaluator
    from llmops_nb.llm import LLMCall, Runner, run_sync

    st = _register(as_store(store))
    frame, ds_name, ds_version = _load_dataset(dataset, st)
    p_obj = None
    if prompt is not None:
        p_obj = prompt if isinstance(prompt, lprompts.Prompt) else lprompts.get(str(prompt), store=st)
        model = model or p_obj.model
        if model is None:
            raise ValueError(f"prompt {p_obj.ref} has no default model; pass model=")
    evs = [load_evaluator(e) for e in evaluators]
    mparams = {**(p_obj.params if p_obj else {}), **dict(model_params or {})}
    secret = {k: mparams.pop(k) for k in ("api_key",) if k in mparams}
    config = {
        "dataset": ds_name, "dataset_version": ds_version,
        "prompt": p_obj.ref if p_obj else None, "prompt_hash": p_obj.content_hash if p_obj else None,
        "model": model, "model_params": _jsonable(mparams),
        "task": "prompt" if p_obj else _callable_name(task),  # type: ignore[arg-type]
        "task_params": _jsonable(dict(params or {})), "variables": dict(variables or {}),
        "evaluators": [{**e.spec(), "version": e.version, "params_hash": e.params_hash} for e in evs],
        "repeats": repeats, "library_version": llmops_nb.__version__,
        "n_examples": len(frame),
    }
    label = p_obj.ref if p_obj else config["task"].split(":")[-1]
    exp_name = name or (f"{base_name}:{label}:{model}" if base_name else f"{label}:{model}" if model else label)
    ident = hashlib.sha256(orjson.dumps({"name": exp_name, **config}, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:12]
    exp_id = f"exp-{ident}"
    existing = st.read("experiments", "WHERE experiment_id = ?", [exp_id])
    created = existing["created_at"].iloc[0] if len(existing) else pd.Timestamp.now(tz="UTC")
    _save_record(st, exp_id, exp_name, config, "running", created)

    done = st.read("experiment_outputs", "WHERE experiment_id = ?", [exp_id])
    done_keys = {(r.example_id, int(r.repeat)) for r in done.itertuples()} if len(done) else set()
    records = frame.to_dict("records")
    todo = [(i, rep) for i, _ in enumerate(records) for rep in range(repeats) if (_example_id(records[i], i), rep) not in done_keys]

    runner = Runner(concurrency=concurrency, cache=cache, budget_usd=budget_usd,
                    requests_per_minute=requests_per_minute, max_retries=max_retries)
    extra = {**mparams, **secret}
    sig_params = dict(params or {})

    def vars_for(row: Mapping[str, Any]) -> dict[str, Any]:
        assert p_obj is not None
        out: dict[str, Any] = {}
        mapping = dict(variables or {})
        missing = []
        for v in p_obj.variables:
            col = mapping.get(v, v)
            meta = row.get("metadata")
            if col in row:
                out[v] = row[col]
            elif isinstance(meta, Mapping) and col in meta:
                out[v] = meta[col]
            else:
                missing.append(v)
        if len(missing) == 1 and missing[0] not in mapping and _input_of(row) is not None:
            out[missing[0]] = _input_of(row)
            missing = []
        if missing:
            raise KeyError(f"prompt {p_obj.ref} needs variables {missing}; the dataset has columns {sorted(row)}; "
                           "map them with variables={'variable': 'column'}")
        return out

    async def one(item: tuple[int, int]) -> dict[str, Any]:
        i, rep = item
        row = records[i]
        ex_id = _example_id(row, i)
        base = {"experiment_id": exp_id, "example_id": ex_id, "repeat": rep, "input_text": _input_of(row),
                "expected": _expected_of(row), "created_at": pd.Timestamp.now(tz="UTC")}
        meta = {"experiment_id": exp_id, "experiment": exp_name, "example_id": ex_id, "repeat": rep,
                "dataset": ds_name, "dataset_version": ds_version, "prompt": config["prompt"], "model": model}
        from llmops_nb.tracing import span

        try:
            with span("chain", name=f"experiment:{exp_name}", metadata=meta) as s:
                s.set_input(base["input_text"])
                if p_obj is not None:
                    call = LLMCall(str(model), p_obj.render(**vars_for(row)), dict(extra))
                    res = await runner.acall(call)
                    if res.error:
                        raise RuntimeError(res.error)
                    text = res.text
                    usage = (res.prompt_tokens, res.completion_tokens, res.cost_usd, res.latency_ms)
                else:
                    assert task is not None
                    t0 = asyncio.get_running_loop().time()
                    if inspect.iscoroutinefunction(task):
                        r = await task(dict(row), **sig_params)
                    else:
                        r = await asyncio.to_thread(task, dict(row), **sig_params)
                    text = _text(r.get("output", r.get("output_text")) if isinstance(r, Mapping) else r)
                    usage = (None, None, None, (asyncio.get_running_loop().time() - t0) * 1000)
                s.set_output(text)
                trace_id = s.trace_id
            return {**base, "trace_id": trace_id, "output_text": text, "error": None, "prompt_tokens": usage[0],
                    "completion_tokens": usage[1], "cost_usd": usage[2], "latency_ms": usage[3]}
        except Exception as e:  # noqa: BLE001 - a failed example is an error row, not a crashed run
            return {**base, "trace_id": locals().get("trace_id"), "output_text": None, "error": f"{type(e).__name__}: {e}",
                    "prompt_tokens": None, "completion_tokens": None, "cost_usd": None, "latency_ms": None}

    from llmops_nb.tracing import capture

    async def run_all() -> None:
        chunk = max(concurrency * 4, 32)
        for k in range(0, len(todo), chunk):
            rows = await runner.amap(one, todo[k:k + chunk], progress=progress, desc=f"experiment {exp_name}")
            ok = [r for r in rows if not (r["error"] or "").startswith("RuntimeError: budget exhausted")]
            if ok:  # durable before the next chunk: an interrupted run resumes from here
                st.add("experiment_outputs", pd.DataFrame(ok))
            if runner.budget_stopped:
                break

    with capture(store=st, metadata={"experiment_id": exp_id}):
        run_sync(run_all())
    status = "stopped" if runner.budget_stopped else "done"
    exp = load_experiment(exp_id, store=st)
    if evs:
        _evaluate_outputs(exp, evs, st, judge_concurrency or concurrency, cache, budget_usd and max(0.0, budget_usd - runner.spent_usd), progress)
    _save_record(st, exp_id, exp_name, config, status, created)
    exp = load_experiment(exp_id, store=st)
    exp.status = status
    if status == "stopped":
        exp.notes.append(f"stopped by the budget (${budget_usd}); run again with a larger budget_usd to resume")
    return exp


def _items_frame(exp: Experiment, spans: pd.DataFrame) -> pd.DataFrame:
    """The outputs as rows the evaluators read (spans-like: input_text, output_text, reference)."""
    o = exp.outputs[exp.outputs["error"].isna()].copy()
    root = spans[spans["parent_span_id"].isna()].drop_duplicates("trace_id").set_index("trace_id") if len(spans) else None
    rows = []
    for r in o.itertuples():
        meta = {"example_id": r.example_id, "repeat": int(r.repeat), "experiment_id": r.experiment_id,
                "reference": r.expected, "expected": r.expected}
        rows.append({"trace_id": r.trace_id, "span_id": root.loc[r.trace_id, "span_id"] if root is not None and r.trace_id in root.index else None,
                     "input_text": r.input_text, "output_text": r.output_text, "reference": r.expected, "expected": r.expected,
                     "metadata": meta, "latency_ms": r.latency_ms, "cost_usd": r.cost_usd})
    return pd.DataFrame(rows)


def _evaluate_outputs(exp: Experiment, evs: Sequence[Any], st: Store, concurrency: int, cache: Any,
                      budget: float | None, progress: bool | None) -> None:
    from llmops_nb.evals import evaluate

    have = st.results("WHERE run_id = ?", [exp.experiment_id])
    spans = st.spans(trace_id=list(exp.outputs["trace_id"].dropna().unique())) if len(exp.outputs) else pd.DataFrame()
    items = _items_frame(exp, spans)
    if not len(items):
        return
    todo_evs = []
    for e in evs:
        done = set(have.loc[have["evaluator"].str.startswith(e.evaluation_name), "trace_id"]) if len(have) else set()
        if set(items["trace_id"]) - done:
            todo_evs.append((e, items[~items["trace_id"].isin(done)]))
    for e, frame in todo_evs:
        evaluate(frame, [e], concurrency=concurrency, cache=cache, budget_usd=budget, store=st,
                 run_id=exp.experiment_id, progress=progress)


def evaluate_experiment(
    experiment: Experiment | str,
    evaluators: Sequence[Any],
    *,
    store: Store | str | None = None,
    concurrency: int = 8,
    cache: Any = True,
    budget_usd: float | None = None,
    progress: bool | None = None,
) -> Experiment:
    """Evaluate a stored experiment's outputs with more evaluators (for example a judge added
    later); outputs already evaluated by an evaluator are not evaluated again by it.

    Example:
        >>> exp = evaluate_experiment("adder-v2", [Correctness(model="openai/gpt-4o-mini")])  # doctest: +SKIP
    """
    from llmops_nb.evals import load_evaluator

    st = _register(as_store(store))
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment, store=st)
    evs = [load_evaluator(e) for e in evaluators]
    _evaluate_outputs(exp, evs, st, concurrency, cache, budget_usd, progress)
    rec = st.read("experiments", "WHERE experiment_id = ?", [exp.experiment_id]).iloc[0]
    config = dict(rec["config"] or {})
    known = {e.get("params_hash") for e in config.get("evaluators", [])}
    config["evaluators"] = [*config.get("evaluators", []),
                            *[{**e.spec(), "version": e.version, "params_hash": e.params_hash} for e in evs if e.params_hash not in known]]
    _save_record(st, exp.experiment_id, exp.name, config, rec["status"], rec["created_at"])
    return load_experiment(exp.experiment_id, store=st)


def _save_record(st: Store, exp_id: str, name: str, config: Mapping[str, Any], status: str, created: Any) -> None:
    row = {"experiment_id": exp_id, "name": name, "dataset": config.get("dataset"), "dataset_version": config.get("dataset_version"),
           "prompt": config.get("prompt"), "model": config.get("model"), "task": config.get("task"), "config": dict(config),
           "status": status, "n_examples": config.get("n_examples"), "created_at": created}
    st.add("experiments", pd.DataFrame([row]), on_conflict="replace")


@removed_argument("evaluate_missing", "llmops_nb.load_experiment", "it was never read")
def load_experiment(experiment: str, *, store: Store | str | None = None) -> Experiment:
    """An experiment from the store, by id or name (the latest with that name).

    Example:
        >>> import llmops_nb as lo, tempfile
        >>> lo.load_experiment("nope", store=tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        KeyError: "no experiment 'nope' in ...; experiments: []"
    """
    st = _register(as_store(store))
    rec = st.read("experiments", "WHERE experiment_id = ? OR name = ?", [experiment, experiment])
    if not len(rec):
        known = st.read("experiments")["name"].tolist() if st.count("experiments") else []
        raise KeyError(f"no experiment {experiment!r} in {st.path}; experiments: {known[-20:]}")
    rec = rec.sort_values("created_at").iloc[-1]
    exp_id = rec["experiment_id"]
    outputs = st.read("experiment_outputs", "WHERE experiment_id = ?", [exp_id]).sort_values(["example_id", "repeat"]).reset_index(drop=True)
    results = st.results("WHERE run_id = ?", [exp_id])
    if len(results) and len(outputs):
        key = outputs.set_index("trace_id")[["example_id", "repeat"]]
        key = key[~key.index.duplicated()]
        results = results.join(key, on="trace_id")
    else:
        results = results.assign(example_id=pd.Series(dtype=object), repeat=pd.Series(dtype="Int64"))
    return Experiment(exp_id, rec["name"], rec["config"] or {}, outputs, results, rec["status"])


def list_experiments(*, store: Store | str | None = None) -> pd.DataFrame:
    """One row per stored experiment (newest last).

    Example:
        >>> import tempfile
        >>> list_experiments(store=tempfile.mkdtemp()).shape[0]
        0
    """
    st = _register(as_store(store))
    if not st.count("experiments"):
        return pd.DataFrame(columns=[c.name for c in EXPERIMENTS.columns])
    return st.read("experiments").sort_values("created_at").reset_index(drop=True)


def reproduce(experiment: str, *, task: Callable[..., Any] | None = None, dataset: Any = None,
              store: Store | str | None = None, **overrides: Any) -> Experiment:
    """Run an experiment again from its stored record (same dataset version, prompt version,
    model and parameters, evaluators) as a new experiment named ``<name> (reproduced)``.
    A function task must be passed again as ``task``, and an inline frame as ``dataset``;
    secrets (``api_key``) are never stored, so pass them again in ``model_params``.

    Example:
        >>> exp = reproduce("baseline", store=".llmops")  # doctest: +SKIP
        >>> exp.name  # doctest: +SKIP
        'baseline'
    """
    st = _register(as_store(store))
    exp = load_experiment(experiment, store=st)
    c = exp.config
    ds = dataset if dataset is not None else (
        f"{c['dataset']}@{c['dataset_version']}" if c.get("dataset") not in (None, "inline") else None)
    if ds is None:
        raise ValueError(f"experiment {exp.name} ran on an inline frame; pass it again as dataset=")
    from llmops_nb.evals import load_evaluator

    evs = [load_evaluator({"name": e["name"], "params": e.get("params", {})}) for e in c.get("evaluators", [])]
    kwargs: dict[str, Any] = {"evaluators": evs, "repeats": c.get("repeats", 1), "store": st,
                              "name": f"{exp.name} (reproduced)",
                              "model_params": c.get("model_params") or None, "variables": c.get("variables") or None}
    if c.get("prompt"):
        kwargs.update(prompt=c["prompt"], model=c.get("model"))
    else:
        if task is None:
            raise ValueError(f"experiment {exp.name} ran the function {c.get('task')}; pass it again as task=")
        kwargs.update(task=task, params=c.get("task_params") or None)
    if "model_params" in overrides:
        overrides["model_params"] = {**(c.get("model_params") or {}), **dict(overrides["model_params"] or {})}
    kwargs.update(overrides)
    out = run_experiment(ds, **kwargs)
    assert isinstance(out, Experiment)  # one configuration: one experiment
    return out


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)
