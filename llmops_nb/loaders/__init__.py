"""Loaders: every supported trace format mapped onto the one spans table.

Example:
    >>> import llmops_nb as lo
    >>> "otlp_json" in lo.formats()["name"].tolist()
    True
"""

from llmops_nb.loaders._aliases import aliases_frame as attribute_aliases
from llmops_nb.loaders._common import (
    MAX_DECOMPRESSED_BYTES,
    LoadError,
    decompressed_limit,
    otel_id,
    text_id,
    to_utc,
)
from llmops_nb.loaders._cost import estimate_costs, price_per_token
from llmops_nb.loaders._evaluations import Evaluations, read_evaluations
from llmops_nb.loaders._profile import Profile, profile
from llmops_nb.loaders._read import LoadReport, read_traces
from llmops_nb.loaders._registry import (
    ENTRY_POINT_GROUP,
    Format,
    formats,
    get_format,
    register_format,
)

__all__ = [
    "read_traces",
    "formats",
    "register_format",
    "get_format",
    "Format",
    "LoadError",
    "LoadReport",
    "ENTRY_POINT_GROUP",
    "otel_id",
    "text_id",
    "to_utc",
    "decompressed_limit",
    "MAX_DECOMPRESSED_BYTES",
    "profile",
    "Profile",
    "read_evaluations",
    "Evaluations",
    "estimate_costs",
    "price_per_token",
    "attribute_aliases",
]
