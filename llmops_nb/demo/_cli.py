"""``llmops-nb demo generate`` and ``llmops-nb demo run`` (what ``make demo`` calls)."""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="simulated support-assistant traces with planted failure modes")
    dsub = p.add_subparsers(dest="demo_command", metavar="DEMO_COMMAND")
    g = dsub.add_parser("generate", help="generate simulated traces into a store or as OTLP/JSON files")
    g.add_argument("--traces", type=int, default=2000, help="number of traces (default 2000)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--days", type=float, default=14.0, help="time span of the traffic in days")
    g.add_argument("--start", default=None, help="first day (ISO date, UTC); default 2026-10-01")
    g.add_argument("--out", required=True, help="store folder (--format store) or output folder (--format otlp)")
    g.add_argument("--format", choices=["store", "otlp"], default="store")
    g.set_defaults(func=_generate)
    r = dsub.add_parser("run", help="generate the demo into the store and print a summary")
    r.add_argument("--traces", type=int, default=2000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--store", default=None, help="store folder (default $LLMOPS_NB_HOME or ./.llmops)")
    r.set_defaults(func=_run)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _generate(args: argparse.Namespace) -> int:
    from llmops_nb.demo import generate, write_otlp, write_store

    t = time.perf_counter()
    data = generate(args.traces, seed=args.seed, start=args.start, days=args.days)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    if args.format == "otlp":
        files = write_otlp(data, args.out)
        where = f"{len(files)} OTLP/JSON files under {args.out}"
    else:
        n = write_store(data, args.out)
        where = f"the store at {args.out} ({n:,} new rows)"
    t_write = time.perf_counter() - t
    print(f"generated {len(data):,} spans in {len(data.truth):,} traces (seed {args.seed}) in {t_gen:.1f} s; "
          f"wrote {where} in {t_write:.1f} s")
    print(f"ground truth (kept apart from the traces): {args.out}/.truth/truth.parquet")
    return 0


def summary(spans: Any) -> str:
    """A plain-text summary of a spans frame: counts, error rate, cost, p95 latency by model.

    Example:
        >>> from llmops_nb.demo import generate
        >>> "p95" in summary(generate(20, seed=0).spans)
        True
    """
    import pandas as pd

    from llmops_nb.traces import to_traces

    traces = to_traces(spans)
    llm = spans[spans["kind"] == "llm"]
    by_model = (
        llm.groupby("model")
        .agg(calls=("span_id", "size"), error_rate=("status", lambda s: float((s == "error").mean())),
             p95_ms=("latency_ms", lambda s: float(s.quantile(0.95))), cost_usd=("cost_usd", "sum"))
        .sort_values("calls", ascending=False)
    )
    by_model["error_rate"] = by_model["error_rate"].map(lambda x: f"{x:.1%}")
    by_model["p95_ms"] = by_model["p95_ms"].map(lambda x: f"{x:,.0f}")
    by_model["cost_usd"] = by_model["cost_usd"].map(lambda x: f"{x:.4f}")
    lines = [
        f"spans: {len(spans):,}   traces: {len(traces):,}   sessions: {spans['session_id'].nunique():,}",
        f"trace error rate: {float(traces['has_error'].mean()):.1%}   "
        f"total cost: ${float(pd.to_numeric(spans['cost_usd']).sum()):.2f}   "
        f"p95 trace latency: {float(traces['latency_ms'].quantile(0.95)):,.0f} ms",
        "",
        "by model (llm spans):",
        by_model.to_string(),
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from llmops_nb.demo import generate, write_store
    from llmops_nb.store import Store

    store = Store(args.store)
    t = time.perf_counter()
    data = generate(args.traces, seed=args.seed)
    n = write_store(data, store)
    print(f"simulated {len(data):,} spans in {len(data.truth):,} traces into {store.path} "
          f"({n:,} new rows) in {time.perf_counter() - t:.1f} s")
    spans = store.spans()
    print()
    print(summary(spans))
    print()
    print(f"planted failure modes (causes in llmops_nb.demo.PLANTED); the ground truth is kept apart from "
          f"the spans in {store.path / '.truth' / 'truth.parquet'}")
    # ------------------------------------------------------------------ REPORT HOOK
    # The error-analysis report is rendered here once llmops_nb.report provides
    # render_demo_report(store=..., data=..., truth=...) (it gets the keyword arguments its
    # signature names; whatever it returns is printed). Until then the summary above is all.
    try:
        from llmops_nb import report as _report
    except ImportError:
        _report = None  # type: ignore[assignment]
    render = getattr(_report, "render_demo_report", None) if _report is not None else None
    if render is not None:
        import inspect

        offered = {"store": store, "data": data, "truth": data.truth}
        params = inspect.signature(render).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in offered.items() if takes_any or k in params}
        print()
        out = render(**kwargs)
        if out is not None:
            print(out)
    # ------------------------------------------------------------------ END REPORT HOOK
    return 0
