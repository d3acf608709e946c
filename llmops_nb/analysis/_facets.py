"""Facets: per item (trace or session), short structured answers an LLM extracts (what the user
asked for, what went wrong, intent, language, sentiment, and questions of your own), asked
through the shared runner of :mod:`llmops_nb.llm` and returned as ordinary result rows."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from llmops_nb.schema import RESULTS, conform, grain_of, is_missing

__all__ = ["facets", "facet_table", "DEFAULT_FACETS", "FACET_MARKER"]

DEFAULT_FACETS: dict[str, str] = {
    "task": "What did the user ask for? One short phrase starting with a verb (e.g. 'get a refund for a double charge').",
    "failure": "What went wrong in this interaction, if anything? One sentence naming the failure and the evidence "
               "for it (error, tool, policy, language...), in English whatever the user's language; 'none' if "
               "nothing went wrong.",
    "intent": "The user's intent category, one or two words (e.g. billing, shipping, returns, account).",
    "language": "The ISO 639-1 code of the language the user wrote in (e.g. en, es, de).",
    "sentiment": "The user's sentiment: positive, neutral or negative.",
}
"""The facet questions asked by default: ``{key: question}``."""

FACET_MARKER = "Facet questions"
"""The line that opens the questions in a facet prompt (simulated providers recognise it)."""

_VERSION = "1"
_MAX_CHARS = 4000


def _clip(text: Any, n: int = _MAX_CHARS) -> str:
    s = "" if is_missing(text) else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _items(frame: pd.DataFrame, spans: pd.DataFrame | None) -> tuple[str, list[tuple[str, str]]]:
    """(id column, [(item id, quoted body)]) for a spans, traces or sessions frame."""
    grain = grain_of(frame)
    derived = None  # the traces of `spans` when derived here (not derived twice)
    if grain == "spans":
        from llmops_nb.analysis._frame import traces_of

        spans = frame
        frame = derived = traces_of(frame)
        grain = "traces"
    if grain == "sessions":
        out = []
        for sid, ins, outs in zip(frame["session_id"], frame["user_inputs"], frame["assistant_outputs"]):
            turns = []
            for q, a in zip(list(ins if ins is not None else []), list(outs if outs is not None else [])):
                turns.append(f"user: {_clip(q, 1500)}\nassistant: {_clip(a, 1500)}")
            out.append((str(sid), "<conversation>\n" + "\n".join(turns) + "\n</conversation>"))
        return "session_id", out
    if "trace_id" not in frame.columns:
        raise ValueError(
            f"facets() needs a spans, traces or sessions table; got columns {list(frame.columns)[:12]}. "
            "Pass lo.read_traces(...) spans, lo.to_traces(spans) or lo.to_sessions(spans)."
        )
    digest: Mapping[str, str] = {}
    if spans is not None and len(spans):
        from llmops_nb.analysis._frame import trace_digest

        digest = trace_digest(spans, include_output=False, detect_language=False, traces=derived).to_dict()
    out = []
    for tid, q, a in zip(frame["trace_id"], frame.get("input_text", [None] * len(frame)),
                         frame.get("output_text", [None] * len(frame))):
        body = f"<input>\n{_clip(q)}\n</input>\n<output>\n{_clip(a)}\n</output>"
        ev = digest.get(tid)
        if ev:
            body += f"\n<evidence>\n{_clip(ev, 1500)}\n</evidence>"
        out.append((str(tid), body))
    return "trace_id", out


def facet_prompt(questions: Mapping[str, str], body: str) -> str:
    """The prompt asking one item's facets."""
    qs = "\n".join(f"- {k}: {q}" for k, q in questions.items())
    return (
        "You read one interaction of an LLM application and answer short questions about it.\n"
        f"{FACET_MARKER} (answer each one; the key comes before the colon):\n{qs}\n"
        "Reply with one JSON object whose keys are exactly the keys above and whose values are short strings.\n\n"
        f"{body}"
    )


def _accept(keys: Sequence[str]) -> Any:
    def ok(text: str | None) -> bool:
        if not text:
            return False
        a, b = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[a: b + 1]) if 0 <= a < b else None
        except ValueError:
            return False
        return isinstance(data, dict) and all(k in data for k in keys)

    return ok


def facets(
    items: pd.DataFrame,
    questions: Mapping[str, str] | Sequence[str] | None = None,
    *,
    model: str = "openai/gpt-4o-mini",
    spans: pd.DataFrame | None = None,
    runner: Any = None,
    store: Any = None,
    concurrency: int = 8,
    cache: bool | str = True,
    progress: bool | None = None,
    **llm_kwargs: Any,
) -> pd.DataFrame:
    """Ask ``model`` short structured answers (facets) about each trace or session; one result
    row per (item, facet), evaluator ``facets.<key>``: the value is the answer text.

    ``items``: a spans table (read per trace, with the error evidence of its spans), a traces
    table (``spans=`` adds that evidence) or a sessions table. ``questions``: ``{key: question}``
    added to (or, with a key of :data:`DEFAULT_FACETS`, replacing) the default questions (task,
    failure, intent, language, sentiment); a list of keys picks default questions. Calls go
    through ``runner`` (default: the enclosing runner, else a new one with the on-disk cache,
    so a rerun costs nothing), with its budget, retries and rate limits. A failed call or an
    unusable reply becomes one error row (evaluator ``facets``). ``store``: the rows are also
    added to it. Use :func:`facet_table` for one row per item, :func:`topics` to group them.

    Example:
        >>> import llmops_nb as lo, pandas as pd
        >>> traces = pd.DataFrame({"trace_id": ["t1"], "input_text": ["Where is my order?"],
        ...                        "output_text": ["It ships tomorrow."]})
        >>> reply = '{"task": "track an order", "failure": "none", "intent": "shipping", "language": "en", "sentiment": "neutral"}'
        >>> rows = lo.facets(traces, model="openai/gpt-4o-mini", cache=False, mock_response=reply)
        >>> rows[["evaluator", "value"]].values.tolist()[:2]
        [['facets.task', 'track an order'], ['facets.failure', 'none']]
    """
    from llmops_nb.llm import LLMCall, Runner, current_runner

    qs: dict[str, str]
    if questions is None:
        qs = dict(DEFAULT_FACETS)
    elif isinstance(questions, Mapping):
        qs = {**DEFAULT_FACETS, **{str(k): str(v) for k, v in questions.items()}}
    else:
        unknown = [q for q in questions if q not in DEFAULT_FACETS]
        if unknown:
            raise ValueError(f"unknown facet keys {unknown}; default facets: {list(DEFAULT_FACETS)}. "
                             "Give your own as a mapping {key: question}.")
        qs = {q: DEFAULT_FACETS[q] for q in questions}
    bad = [k for k in qs if not k.isidentifier()]
    if bad:
        raise ValueError(f"facet keys must be identifiers (letters, digits, _): {bad}")
    id_col, bodies = _items(items, spans)
    params = {"model": model, "questions": qs}
    phash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    run_id = f"facets-{uuid.uuid4().hex[:12]}"
    r = runner or current_runner() or Runner(concurrency=concurrency, cache=cache, max_retries=3)
    accept = _accept(list(qs))
    calls = [LLMCall(model, [{"role": "user", "content": facet_prompt(qs, b)}], dict(llm_kwargs), accept=accept)
             for _, b in bodies]
    results = r.run(calls, progress=progress) if calls else []
    now = datetime.now(timezone.utc)
    base = {"run_id": run_id, "evaluator_version": _VERSION, "params_hash": phash, "params": json.dumps(params),
            "judge_model": model, "created_at": now, "simulated": model.startswith("llmops-sim/")}
    rows: list[dict[str, Any]] = []
    for (iid, _), res in zip(bodies, results):
        ids = {id_col: iid}
        data = None
        err = res.error
        if err is None:
            txt = res.text or ""
            a, b = txt.find("{"), txt.rfind("}")
            try:
                data = json.loads(txt[a: b + 1]) if 0 <= a < b else None
            except ValueError:
                data = None
            if not isinstance(data, dict):
                err = f"ValueError: the model {model!r} did not reply with a JSON object: {txt[:200]!r}"
        simulated = bool(res.simulated) or base["simulated"]
        if err is not None:
            rows.append({**base, **ids, "evaluator": "facets", "error": err, "latency_ms": res.latency_ms,
                         "simulated": simulated, "result_id": f"{run_id}:{phash}:facets:{iid}:"})
            continue
        assert data is not None
        n = len(qs)
        for j, k in enumerate(qs):
            v = data.get(k)
            v = None if v is None else (v if isinstance(v, str) else json.dumps(v))
            rows.append({
                **base, **ids, "evaluator": f"facets.{k}", "value": v, "label": v,
                # the call's tokens on the first row, its cost shared: sums over the rows stay true
                "prompt_tokens": res.prompt_tokens if j == 0 else 0,
                "completion_tokens": res.completion_tokens if j == 0 else 0,
                "cost_usd": None if res.cost_usd is None else res.cost_usd / n,
                "latency_ms": res.latency_ms, "simulated": simulated,
                "error": None if v is not None else f"KeyError: the reply has no {k!r}",
                "result_id": f"{run_id}:{phash}:facets.{k}:{iid}:",
            })
    out = conform(rows, RESULTS) if rows else conform(pd.DataFrame(columns=[c.name for c in RESULTS.columns]), RESULTS)
    if store is not None:
        from llmops_nb.store import as_store

        as_store(store).add_results(out)
    return out


def facet_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per item from facet result rows: the id column (trace_id or session_id), one
    column per facet key (the latest answer when an item was asked twice).

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"trace_id": ["t", "t"], "session_id": [None, None],
        ...     "evaluator": ["facets.task", "facets.failure"], "value": ["track an order", "none"],
        ...     "error": [None, None], "created_at": pd.to_datetime(["2026-01-01", "2026-01-01"])})
        >>> facet_table(rows).to_dict("records")
        [{'trace_id': 't', 'task': 'track an order', 'failure': 'none'}]
    """
    if "evaluator" not in results.columns or "value" not in results.columns:
        raise ValueError(f"facet_table() needs facet result rows (from lo.facets); got columns {list(results.columns)[:12]}")
    r = results[results["evaluator"].astype(str).str.startswith("facets.")]
    if "error" in r.columns:
        r = r[r["error"].isna()]
    id_col = "session_id" if "session_id" in r.columns and r["session_id"].notna().any() and not (
        "trace_id" in r.columns and r["trace_id"].notna().any()) else "trace_id"
    if "created_at" in r.columns:
        r = r.sort_values("created_at", kind="stable")
    keys = list(dict.fromkeys(e[len("facets."):] for e in r["evaluator"]))
    r = r.assign(_key=r["evaluator"].str.slice(len("facets."))).drop_duplicates([id_col, "_key"], keep="last")
    wide = r.pivot(index=id_col, columns="_key", values="value")
    wide = wide.reindex(columns=keys)
    wide.columns.name = None
    order = list(dict.fromkeys(r[id_col]))
    return wide.reindex(order).reset_index()
