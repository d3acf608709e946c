"""Estimated cost for spans that carry a model and tokens but no cost.

The price per input and output token comes from litellm's price map: ``litellm.model_cost``
when litellm is already imported (so models added with ``litellm.register_model`` count),
else the offline copy of that map shipped inside the litellm package (read as JSON, without
importing litellm, as ``LITELLM_LOCAL_MODEL_COST_MAP=True`` would). A source's own cost is never
replaced; an estimated cost is marked with ``metadata[COST_ESTIMATED_KEY] = True``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.schema import COST_ESTIMATED_KEY

__all__ = ["estimate_costs", "price_per_token"]


@lru_cache(maxsize=1)
def _offline_map() -> Mapping[str, Any]:
    import importlib.util
    from pathlib import Path

    import orjson

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "model_prices_and_context_window_backup.json"
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}


def _price_map() -> Mapping[str, Any]:
    mod = sys.modules.get("litellm")
    cost = getattr(mod, "model_cost", None) if mod is not None else None
    return cost if isinstance(cost, Mapping) and cost else _offline_map()


def price_per_token(model: str, provider: str | None = None) -> tuple[float, float] | None:
    """(input, output) US dollars per token for ``model`` from litellm's price map, or None.

    Tries the name as given, without a ``provider/`` prefix, and with the provider as prefix.

    Example:
        >>> price_per_token("openai/gpt-4o") == price_per_token("gpt-4o")
        True
        >>> price_per_token("no-such-model") is None
        True
    """
    prices = _price_map()
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    if provider:
        names.append(f"{provider}/{model}")
    for name in names:
        info = prices.get(name)
        if isinstance(info, Mapping) and info.get("input_cost_per_token") is not None:
            out = info.get("output_cost_per_token")
            return float(info["input_cost_per_token"]), float(out or 0.0)
    return None


def estimate_costs(df: pd.DataFrame) -> pd.DataFrame:
    """Fill ``cost_usd`` where a span has a model and tokens but no cost, from litellm's price
    map (input and output tokens at their list prices), and flag those rows in ``metadata``.
    Modifies ``df`` in place (a frame the loader just built) and returns it.

    Example:
        >>> from llmops_nb.schema import SPANS, conform
        >>> df = conform([{"trace_id": "t", "span_id": "s", "kind": "llm", "status": "ok", "source_format": "x",
        ...                "model": "gpt-4o", "prompt_tokens": 1000, "completion_tokens": 100}], SPANS)
        >>> df = estimate_costs(df)
        >>> in_price, out_price = price_per_token("gpt-4o")
        >>> bool(df.loc[0, "cost_usd"] == 1000 * in_price + 100 * out_price), df.loc[0, "metadata"]["cost_estimated"]
        (True, True)
    """
    if df.empty:
        return df
    need = df["cost_usd"].isna() & df["model"].notna() & (df["prompt_tokens"].notna() | df["completion_tokens"].notna())
    if not need.any():  # formats with their own cost never reach the price map
        return df
    idx = np.flatnonzero(need.to_numpy())
    pt = df["prompt_tokens"].to_numpy(dtype="float64", na_value=0.0)[idx]
    ct = df["completion_tokens"].to_numpy(dtype="float64", na_value=0.0)[idx]
    # one price lookup per (model, provider) pair, then the costs of all rows at once
    models, model_names = pd.factorize(df["model"].to_numpy()[idx])
    providers, provider_names = pd.factorize(df["provider"].to_numpy()[idx])  # None -> -1
    pairs, pair_of_row = np.unique(models.astype(np.int64) * (len(provider_names) + 1) + (providers + 1), return_inverse=True)
    in_price, out_price = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
    for k, pair in enumerate(pairs.tolist()):
        m, p = divmod(pair, len(provider_names) + 1)
        price = price_per_token(str(model_names[m]), None if p == 0 else str(provider_names[p - 1]))
        if price is not None:
            in_price[k], out_price[k] = price
    costs = pt * in_price[pair_of_row] + ct * out_price[pair_of_row]
    hit = ~np.isnan(costs)
    if not hit.any():
        return df
    rows = idx[hit]
    col = df.columns.get_loc("cost_usd")
    df.iloc[rows, col] = costs[hit]
    meta = df["metadata"].to_numpy(dtype=object).copy()
    flagged = [{**m, COST_ESTIMATED_KEY: True} if type(m) is dict or isinstance(m, Mapping) else {COST_ESTIMATED_KEY: True}
               for m in meta[rows].tolist()]
    meta[rows] = np.fromiter(flagged, dtype=object, count=len(flagged))
    df["metadata"] = pd.Series(meta, index=df.index, dtype=object, copy=False)
    return df
