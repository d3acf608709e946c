"""Suggested next steps: per failure mode, where it concentrates and what to do about it."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.analysis._dims import dimension_mask
from llmops_nb.analysis._frame import Outcome, as_analysis_frame, id_series, resolve_outcome
from llmops_nb.analysis._slices import find_slices

__all__ = ["suggest_next_steps", "NextSteps"]


class NextSteps(pd.DataFrame):
    """One row per failure mode: traces, share of failures, the slices where it concentrates,
    typical examples and suggested actions with their evidence (``evidence``: one text per
    action; ``evidence_refs``: per action, what that text cites, as dicts of ``kind`` "slice"
    (slice, column, value, n, rate, baseline, lift, p_adjusted), "column" (column, stat, mode,
    not_failed, p_value) or "count" (n_mode, n, rate, share_of_failures): only figures of the
    data, never the mode's name). Shows itself as cards in a notebook; :meth:`to_markdown`
    gives the same as text.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trace_id": ["t1", "t2", "t3"], "failure_mode": ["made_up_policy", None, "made_up_policy"]})
        >>> steps = suggest_next_steps(df)
        >>> isinstance(steps, NextSteps), steps.loc[0, "mode"]
        (True, 'made_up_policy')
    """

    @property
    def _constructor(self) -> type[NextSteps]:
        return NextSteps

    def to_markdown(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        """The suggestions as Markdown: one section per mode."""
        a = self.attrs
        lines = [f"# Suggested next steps ({a.get('n_failures', '?')} failing traces of {a.get('n', '?')})", ""]
        for _, r in self.iterrows():
            lines.append(f"## {r['mode']}: {r['traces']} traces, {r['share_of_failures']:.0%} of failures")
            if r["top_slices"]:
                lines.append("Concentrates in: " + "; ".join(r["top_slices"]) + ".")
            else:
                lines.append("Concentrates in no slice: it is spread over the traffic.")
            if r["examples"]:
                lines.append("Examples: " + ", ".join(f"`{e}`" for e in r["examples"]) + ".")
            lines.append("")
            for act, ev in zip(r["actions"], r["evidence"]):
                lines.append(f"- **{act}**" + (f" _Evidence: {ev}_" if ev else ""))
            lines.append("")
        return "\n".join(lines)

    @property
    def text(self) -> str:
        """The Markdown text (same as :meth:`to_markdown`)."""
        return self.to_markdown()

    def __repr__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        a = self.attrs
        cards = []
        for _, r in self.iterrows():
            acts = "".join(
                f"<li><b>{html.escape(act)}</b>" + (f"<br><small>{html.escape(ev)}</small>" if ev else "") + "</li>"
                for act, ev in zip(r["actions"], r["evidence"])
            )
            slices = "; ".join(html.escape(s) for s in r["top_slices"]) or "no slice (spread over traffic)"
            ex = ", ".join(f"<code>{html.escape(str(e))}</code>" for e in r["examples"])
            cards.append(
                f"<div style='border:1px solid #ddd;border-radius:6px;padding:8px;margin:6px 0'>"
                f"<b>{html.escape(str(r['mode']))}</b>: {r['traces']} traces, "
                f"{r['share_of_failures']:.0%} of failures<br>Concentrates in: {slices}<br>"
                f"Examples: {ex}<ul>{acts}</ul></div>"
            )
        head = f"<p><b>Suggested next steps</b> ({a.get('n_failures', '?')} failing traces of {a.get('n', '?')})</p>"
        return f"<div>{head}{''.join(cards)}</div>"


def _mode_matrix(df: pd.DataFrame, modes: Any) -> tuple[pd.DataFrame, pd.Series | None]:
    """(bool frame rows x modes aligned with df, the per-row mode evidence/similarity if any)."""
    def from_labels(col: pd.Series) -> pd.DataFrame:
        vals = col.astype(object).where(col.notna(), None)
        names = [v for v in pd.unique(vals) if v is not None]
        return pd.DataFrame({n: (vals == n).to_numpy() for n in names}, index=df.index)

    if isinstance(modes, str):
        if modes not in df.columns:
            raise KeyError(f"modes={modes!r} is not a column; pass the column with one failure mode per row "
                           "(assign_failure_modes), a frame of bool mode columns, or a list of bool columns")
        return from_labels(df[modes]), df.get("similarity")
    if isinstance(modes, pd.DataFrame):
        if "failure_mode" in modes.columns:
            key = "trace_id"
            m = modes.drop_duplicates(key).set_index(key)["failure_mode"]
            col = df[key].map(m)
            sim = df[key].map(modes.drop_duplicates(key).set_index(key)["similarity"]) if "similarity" in modes.columns else None
            return from_labels(col), sim
        bool_cols = [c for c in modes.columns if c not in ("trace_id", "failed") and
                     (modes[c].dtype == bool or str(modes[c].dtype) == "boolean")]
        if "trace_id" in modes.columns and "trace_id" in df.columns:
            m = modes.drop_duplicates("trace_id").set_index("trace_id")[bool_cols]
            out = pd.DataFrame({c: df["trace_id"].map(m[c]).fillna(False).astype(bool).to_numpy() for c in bool_cols}, index=df.index)
            return out, None
        return modes[bool_cols].reset_index(drop=True).set_axis(df.index).astype(bool), None
    if isinstance(modes, Mapping):
        return pd.DataFrame({k: resolve_outcome(df, v)[0] > 0.5 for k, v in modes.items()}, index=df.index), None
    if isinstance(modes, Sequence):
        return pd.DataFrame({c: resolve_outcome(df, c)[0] > 0.5 for c in modes}, index=df.index), None
    raise TypeError(f"modes={type(modes).__name__} is not supported")


def _natural_key(v: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(v))]


def _rate(y: np.ndarray, m: np.ndarray) -> float:
    return float(y[m].mean()) if m.any() else float("nan")


_CATEGORY = {"category", "topic", "intent", "route", "task", "use_case"}
# (pattern of the mode's wording, action, columns of the traces whose values would show it)
_KEYWORD_ACTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    (r"pii|personal|privacy|leak|email address|phone",
     "Put the PII guardrail in blocking mode on the affected path and add a PII-leak evaluator to the test set.", ()),
    (r"inject|jailbreak|hijack",
     "Tighten the prompt-injection guardrail (threshold, blocking) and add these traces as adversarial test cases.", ()),
    (r"refus|decline|can.t help",
     "Review the instructions that make the model refuse benign requests and add an over-refusal evaluator.",
     ("completion_tokens",)),
    (r"hallucinat|invent|made up|made-up|policy|fabricat|ground",
     "Add a faithfulness (groundedness) evaluator that checks answers against the retrieved documents.",
     ("retrieval_score",)),
    (r"timeout|time out|timed out|latency|slow",
     "Add a fallback for timeouts (shorter context, another model, a retry with a larger timeout).",
     ("has_error", "n_errors", "latency_ms", "prompt_tokens")),
    (r"tool|argument|args|parameter|ordernotfound|lookup",
     "Validate tool arguments against the tool schema before calling, and add a tool-argument evaluator.",
     ("n_tool_errors",)),
    (r"language|english|translat",
     "Add an explicit instruction to answer in the user's language, and a language-match evaluator.", ()),
]
# what the application did, compared between a mode's traces and the traces that did not fail
_SIGNAL_COLUMNS = ("has_error", "n_errors", "n_tool_errors", "retrieval_score", "latency_ms", "prompt_tokens",
                   "completion_tokens", "n_llm", "n_tool", "cost_usd")
_ANY_COLUMNS = {"has_error", "n_errors", "n_tool_errors"}  # compared as the share of traces with any


def _column_evidence(df: pd.DataFrame, y: np.ndarray, ok: np.ndarray, col: str,
                     alpha: float = 0.01) -> tuple[str, dict[str, Any], float] | None:
    """How ``col`` differs between the mode's traces (``y``) and the traces that did not fail
    (``ok``): (text, reference, effect size) when the difference is significant (Mann-Whitney
    U, or Fisher for a share), else None."""
    if col not in df.columns:
        return None
    v = pd.to_numeric(df[col].astype("float64") if df[col].dtype == bool or str(df[col].dtype) == "boolean"
                      else df[col], errors="coerce").to_numpy(dtype=float)
    a, b = v[y & np.isfinite(v)], v[ok & ~y & np.isfinite(v)]
    if len(a) < 5 or len(b) < 5:
        return None
    if col in _ANY_COLUMNS:
        from scipy.stats import fisher_exact

        ka, kb = int((a > 0).sum()), int((b > 0).sum())
        p = float(fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]])[1])
        sa, sb = ka / len(a), kb / len(b)
        if p >= alpha:
            return None
        what = "with an error" if col in ("has_error", "n_errors") else "with a tool error"
        ref = {"kind": "column", "column": col, "stat": "share > 0", "mode": sa, "not_failed": sb, "n_mode": len(a),
               "n_not_failed": len(b), "p_value": p}
        return (f"{col}: {sa:.0%} of these traces {what} vs {sb:.0%} of the traces that did not fail "
                f"(Fisher p {p:.1g})"), ref, abs(sa - sb)
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([a, b])) == 0:
        return None
    p = float(mannwhitneyu(a, b).pvalue)
    if p >= alpha:
        return None
    ma, mb = float(np.mean(a)), float(np.mean(b))
    sd = float(np.std(np.concatenate([a, b]))) or 1.0
    fmt = (lambda x: f"{x:,.0f}") if max(abs(ma), abs(mb)) >= 100 else (lambda x: f"{x:.2f}")
    ref = {"kind": "column", "column": col, "stat": "mean", "mode": ma, "not_failed": mb, "n_mode": len(a),
           "n_not_failed": len(b), "p_value": p}
    return (f"mean {col} {fmt(ma)} on these traces vs {fmt(mb)} on the traces that did not fail "
            f"(Mann-Whitney p {p:.1g})"), ref, abs(ma - mb) / sd


def _count_evidence(n_mode: int, n: int, share: float) -> tuple[str, dict[str, Any]]:
    sh = f", {share:.0%} of the failing traces" if np.isfinite(share) else ""
    return (f"{n_mode:,} of {n:,} traces ({n_mode / n:.1%}{sh})",
            {"kind": "count", "n_mode": n_mode, "n": n, "rate": n_mode / n, "share_of_failures": share})


def _actions_for(
    mode: str, definition: str, df: pd.DataFrame, y: np.ndarray, failed: np.ndarray, slices: pd.DataFrame,
    n_mode: int, quantiles: Sequence[float],
) -> tuple[list[str], list[str], list[list[dict[str, Any]]]]:
    """The actions for one mode, the evidence of each (text) and what that evidence cites
    (references to slices, columns and counts of the data: never the mode's own name)."""
    acts: list[str] = []
    evid: list[str] = []
    refs: list[list[dict[str, Any]]] = []
    seen_cols: set[str] = set()
    for _, s in slices.iterrows():
        col, val = str(s["column"]), str(s["value"])
        if col in seen_cols:
            continue
        seen_cols.add(col)
        ev_base = f"{s['slice']}: {s['failure_rate']:.1%} of traces vs {slices.attrs['baseline']:.1%} overall (lift {s['lift']:.1f}, p_adj {s['p_adjusted']:.1g})"
        refs.append([{"kind": "slice", "slice": str(s["slice"]), "column": col, "value": val, "n": int(s["size"]),
                      "rate": float(s["failure_rate"]), "baseline": float(slices.attrs["baseline"]),
                      "lift": float(s["lift"]), "p_adjusted": float(s["p_adjusted"])}])
        try:
            in_slice = dimension_mask(df, col, val, quantiles=quantiles)
        except (ValueError, KeyError):
            in_slice = None
        lcol = col.lower().removeprefix("metadata.")
        if lcol in _CATEGORY:
            if in_slice is not None and "retrieval_score" in df.columns:
                rs = pd.to_numeric(df["retrieval_score"], errors="coerce").to_numpy(dtype=float)
                a = np.nanmean(rs[in_slice & y]) if (in_slice & y).any() else np.nan
                b = np.nanmean(rs[~in_slice]) if (~in_slice).any() else np.nan
                if np.isfinite(a) and np.isfinite(b) and a < b - 0.05:
                    acts.append(f"Retrieval misses in {col} = {val}: add or fix the documents about {val} in the "
                                f"knowledge base, then add these traces to the test set.")
                    evid.append(f"{ev_base}; mean retrieval score {a:.2f} on these failures vs {b:.2f} outside the slice")
                    continue
            acts.append(f"Review how {col} = {val} requests are handled (prompt, knowledge, tools) and add its "
                        f"failing traces to the test set.")
            evid.append(ev_base)
        elif lcol in ("prompt_version", "prompt", "prompt_name", "version"):
            versions = sorted({str(v) for v in _values(df, col)}, key=_natural_key)
            prev = [v for v in versions if _natural_key(v) < _natural_key(val)]
            if prev and in_slice is not None:
                p = prev[-1]
                pm = dimension_mask(df, col, p, quantiles=quantiles)
                acts.append(f"{mode} began with {col} {val}: compare {val} with the previous version {p} in an "
                            f"experiment (lo.run_experiment) on these traces, and roll back if it confirms.")
                evid.append(f"{ev_base}; rate {_rate(y, in_slice):.1%} on {val} vs {_rate(y, pm):.1%} on {p}")
            else:
                acts.append(f"Compare {col} {val} with the other versions in an experiment on these traces.")
                evid.append(ev_base)
        elif lcol in ("model", "models", "provider"):
            if in_slice is not None:
                others = _values(df, col)
                best, best_rate = None, float("inf")
                for o in {str(v) for v in others} - {val, "(none)", "(missing)"}:
                    try:
                        om = dimension_mask(df, col, o, quantiles=quantiles)
                    except ValueError:
                        continue
                    if om.sum() >= 20 and _rate(y, om) < best_rate:
                        best, best_rate = o, _rate(y, om)
                alt = f" (lowest rate: {best}, {best_rate:.1%})" if best is not None else ""
                acts.append(f"Concentrated on {col} {val}: route these requests away from {val} or compare it "
                            f"with another model{alt} in an experiment.")
                evid.append(f"{ev_base}; rate {_rate(y, in_slice):.1%} on {val} vs {_rate(y, ~in_slice):.1%} on the other models")
            else:
                acts.append(f"Compare {col} {val} with another model in an experiment on these traces.")
                evid.append(ev_base)
        elif lcol in ("language", "lang", "locale"):
            if re.search(r"language|english|translat", f"{mode} {definition}".lower()):
                acts.append(f"Answers for language = {val} fail: add an explicit instruction to answer in the "
                            f"user's language and a language-match evaluator.")
            else:
                acts.append(f"Check the {val} side of the application (translated prompts, knowledge base in "
                            f"{val}) and add {val} traces to the test set.")
            evid.append(ev_base)
        elif lcol in ("tool", "tool_name", "tools"):
            extra = ""
            if in_slice is not None and "n_tool_errors" in df.columns:
                te = pd.to_numeric(df["n_tool_errors"], errors="coerce").fillna(0).to_numpy() > 0
                extra = f"; tool errors in {te[in_slice & y].mean():.0%} of these failures" if (in_slice & y).any() else ""
            acts.append(f"Check the schema and description of tool {val} and validate its arguments; add a "
                        f"tool-argument evaluator for {val} calls.")
            evid.append(ev_base + extra)
        elif lcol in ("input_length", "prompt_tokens", "total_tokens", "latency_ms", "output_length",
                      "completion_tokens", "cost_usd"):
            top_bucket = val.startswith("[") and val.endswith("]")
            if top_bucket and lcol in ("input_length", "prompt_tokens", "total_tokens"):
                acts.append(f"Failures grow with {col} ({val}, the longest): truncate or summarise long contexts, "
                            f"or route them to a long-context model; add long inputs to the test set.")
            elif top_bucket:
                acts.append(f"Failures concentrate at the top of {col} ({val}): look at these slow or large "
                            f"traces first (timeouts, retries, runaway loops).")
            else:
                acts.append(f"Failures concentrate in {col} {val}: read a sample of these traces to see why.")
            evid.append(ev_base)
        elif lcol in ("channel", "surface", "source"):
            acts.append(f"Check the {val}-specific configuration (guardrails, formatting, post-processing) "
                        f"against the other {col}s.")
            evid.append(ev_base)
        elif lcol in ("tenant", "customer", "account", "org", "organization"):
            acts.append(f"Review {col} {val}'s custom instructions and configuration; keep a test set for {val}.")
            evid.append(ev_base)
        else:
            acts.append(f"Look at the {col} = {val} traces first: the mode concentrates there.")
            evid.append(ev_base)
    n = len(df)
    share = float((y & failed).sum() / failed.sum()) if failed.any() else float("nan")
    count_text, count_ref = _count_evidence(n_mode, n, share)
    ok = ~failed if (~failed & ~y).sum() >= 5 else ~y
    text = f"{mode} {definition}".lower().replace("_", " ")
    for pattern, action, columns in _KEYWORD_ACTIONS:
        if re.search(pattern, text) and action not in acts:
            # the wording picks the action; the evidence is what the data shows about these traces
            found = _distinct([e for e in (_column_evidence(df, y, ok, c) for c in columns) if e is not None])
            acts.append(action)
            evid.append("; ".join([count_text, *(e[0] for e in found)]))
            refs.append([count_ref, *(e[1] for e in found)])
            break
    sig = _signature(df, y, ok)[:2]
    acts.append(f"Add the {min(n_mode, 20)} most typical traces of this mode to the regression test set.")
    evid.append("; ".join([count_text, *(e[0] for e in sig)]))
    refs.append([count_ref, *(e[1] for e in sig)])
    return acts, evid, refs


def _signature(df: pd.DataFrame, y: np.ndarray, ok: np.ndarray) -> list[tuple[str, dict[str, Any], float]]:
    """The columns of what the application did that set the mode's traces apart from the traces
    that did not fail, strongest first (significant differences only)."""
    found = [e for e in (_column_evidence(df, y, ok, c) for c in _SIGNAL_COLUMNS) if e is not None]
    return _distinct(sorted(found, key=lambda e: -e[2]))


def _distinct(found: list[tuple[str, dict[str, Any], float]]) -> list[tuple[str, dict[str, Any], float]]:
    """Without the columns that say the same as one before (has_error and n_errors > 0)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for e in found:
        key = (e[1]["stat"], round(e[1]["mode"], 9), round(e[1]["not_failed"], 9))
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _values(df: pd.DataFrame, col: str) -> list[Any]:
    from llmops_nb.analysis._dims import build_dimensions

    dims, _ = build_dimensions(df, [col], max_levels=10**6)
    return dims[0].labels if dims else []


def suggest_next_steps(
    frame: pd.DataFrame,
    outcome: Outcome | None = None,
    modes: Any = "failure_mode",
    slices: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    *,
    columns: Sequence[str] | None = None,
    definitions: Mapping[str, str] | Any | None = None,
    top_slices: int = 3,
    n_examples: int = 5,
    id_column: str | None = None,
    grain: str = "auto",
) -> NextSteps:
    """For each failure mode: how many traces, its share of the failures, the slices where
    it concentrates (significant over-represented slices), typical example ids, and
    concrete actions drawn from that evidence (for example: retrieval misses in one
    category -> add documents there; began with a prompt version -> compare it with the
    previous one; concentrated on a model -> route away or compare models). The wording of a
    mode may pick an action (a PII mode: a PII guardrail), but each action's evidence cites the
    data only: the slices with their rates and adjusted p-values, columns of what the
    application did where the mode's traces differ significantly from the traces that did not
    fail (tool errors, retrieval score, latency, ...), and counts.

    Row grain: one row per failure mode, largest first. ``frame``: traces (or spans,
    analysed per trace) with slice columns. ``modes``: the column with one mode per row
    (from :func:`assign_failure_modes`, the default ``"failure_mode"``), that frame itself,
    a frame of boolean mode columns keyed by trace_id (e.g. a truth frame), or a list /
    mapping of boolean columns. ``outcome``: the failure indicator (default: any mode).
    ``slices``: a :func:`find_slices` result whose columns and min_size are reused, or
    ``{mode: slices}`` computed already. ``definitions``: mode -> definition, or a
    :class:`Taxonomy`, used for wording.

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> cat = rng.choice(["billing", "faq", "tech"], 3000)
        >>> mode = np.where((cat == "billing") & (rng.random(3000) < .3), "made_up_policy", None)
        >>> df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(3000)], "failure_mode": mode,
        ...                    "metadata": [{"category": c} for c in cat]})
        >>> steps = suggest_next_steps(df)
        >>> steps.loc[0, "top_slices"][0].startswith("category = billing")
        True
    """
    df = as_analysis_frame(frame, grain).reset_index(drop=True)
    M, sim = _mode_matrix(df, modes)
    if M.shape[1] == 0:
        raise ValueError("no failure modes found: every row has an empty mode")
    if outcome is None:
        failed = M.to_numpy().any(axis=1)
    else:
        failed = resolve_outcome(df, outcome)[0] > 0.5
    ids = id_series(df, id_column).to_numpy()
    defs: dict[str, str] = {}
    if definitions is not None:
        if hasattr(definitions, "modes"):
            defs = {m.name: m.definition for m in definitions.modes}
        else:
            defs = dict(definitions)
    kw: dict[str, Any] = {}
    if isinstance(slices, pd.DataFrame) and "columns" in slices.attrs:
        kw = {"columns": slices.attrs["columns"], "min_size": slices.attrs.get("min_size"),
              "quantiles": slices.attrs.get("quantiles")}
    if columns is not None:
        kw["columns"] = list(columns)
    kw = {k: v for k, v in kw.items() if v is not None}
    quantiles = kw.get("quantiles", (0.25, 0.5, 0.75, 0.9))
    mode_cols = [c for c in M.columns]
    excl = [c for c in mode_cols if c in df.columns] + (["failure_mode", "similarity", "evidence", "reasoning"])
    if "failure_mode" in df.columns and "topic" in df.columns:
        excl.append("topic")  # the topic a mode was assigned from: the mode itself, not a slice
    n_fail = int(failed.sum())
    rows = []
    for mode in mode_cols:
        y = M[mode].to_numpy(dtype=bool)
        n_mode = int(y.sum())
        if n_mode == 0:
            continue
        if isinstance(slices, Mapping) and mode in slices:
            st = slices[mode]
        else:
            st = find_slices(df, outcome=y, exclude=excl, grain="row", max_order=1, **kw)
        top = st[(st["significant"]) & (st["direction"] == "higher")].head(top_slices)
        top.attrs = st.attrs
        idx = np.flatnonzero(y)
        if sim is not None:
            s = pd.to_numeric(pd.Series(np.asarray(sim)), errors="coerce").to_numpy()
            idx = idx[np.argsort(-np.nan_to_num(s[idx], nan=-1))]
        examples = [ids[i] for i in idx[:n_examples]]
        acts, evid, refs = _actions_for(mode, defs.get(mode, ""), df, y, failed, top, n_mode, quantiles)
        rows.append({
            "mode": mode,
            "traces": n_mode,
            "share_of_failures": (int((y & failed).sum()) / n_fail) if n_fail else float("nan"),
            "rate": n_mode / len(df),
            "top_slices": [f"{r['slice']} ({r['failure_rate']:.0%}, lift {r['lift']:.1f})" for _, r in top.iterrows()],
            "examples": examples,
            "actions": acts,
            "evidence": evid,
            "evidence_refs": refs,
        })
    out = pd.DataFrame(rows).sort_values("traces", ascending=False, kind="stable").reset_index(drop=True)
    res = NextSteps(out)
    res.attrs.update({"n": len(df), "n_failures": n_fail})
    return res
