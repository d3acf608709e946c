"""The canonical tables of llmops_nb, declared once.

Every table is a list of :class:`Column` declarations; the Arrow schema, the empty
pandas frame, the README table and the conversions to and from Arrow are all derived
from these lists. Loaders map onto :data:`SPANS`; evaluators write :data:`RESULTS`;
annotation appends to :data:`LABELS`.

Example:
    >>> from llmops_nb.schema import SPANS, empty_frame
    >>> empty_frame(SPANS).columns[:3].tolist()
    ['trace_id', 'span_id', 'parent_span_id']
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

__all__ = [
    "Column",
    "Table",
    "SPANS",
    "TRACES",
    "RESULTS",
    "LABELS",
    "SESSIONS",
    "SPAN_KINDS",
    "SPAN_STATUSES",
    "COST_ESTIMATED_KEY",
    "MESSAGE_TYPE",
    "DOCUMENT_TYPE",
    "empty_frame",
    "to_arrow",
    "from_arrow",
    "conform",
    "schema_markdown",
    "is_missing",
    "none_if_missing",
    "grain_of",
    "json_text",
    "extra_to_arrow",
    "frame_to_arrow",
    "arrow_to_frame",
]

SPAN_KINDS: tuple[str, ...] = (
    "llm",
    "chain",
    "retriever",
    "tool",
    "agent",
    "embedding",
    "reranker",
    "guardrail",
    "evaluator",
    "unknown",
)
"""The valid values of ``spans.kind``."""

COST_ESTIMATED_KEY = "cost_estimated"
"""The ``spans.metadata`` key set to true where ``cost_usd`` was estimated from litellm's price
map (the source had a model and tokens but no cost); a source's own cost never carries it."""

SPAN_STATUSES: tuple[str, ...] = ("ok", "error", "unset")
"""The valid values of ``spans.status``."""

TOOL_CALL_TYPE = pa.struct(
    [("id", pa.string()), ("name", pa.string()), ("arguments", pa.string())]
)
MESSAGE_TYPE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL_TYPE)),
        ("tool_call_id", pa.string()),
    ]
)
"""One chat message: role, text content, tool calls (id, name, JSON arguments), tool_call_id."""

DOCUMENT_TYPE = pa.struct(
    [("id", pa.string()), ("content", pa.string()), ("score", pa.float64()), ("metadata", pa.string())]
)
"""One retrieved document: id, content, score, metadata (a JSON object as text)."""

TS = pa.timestamp("us", tz="UTC")

Kind = Literal["str", "int", "float", "bool", "time", "messages", "documents", "strings", "json"]

_ARROW: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "time": TS,
    "messages": pa.list_(MESSAGE_TYPE),
    "documents": pa.list_(DOCUMENT_TYPE),
    "strings": pa.list_(pa.string()),
    "json": pa.string(),  # JSON text in Arrow/Parquet; a Python object in pandas
}


@dataclass(frozen=True)
class Column:
    """One declared column: its name, its type, whether every row must have it, and what it means.

    ``kind`` is one of ``str int float bool time messages documents strings json``.
    ``json`` columns hold any JSON value: a dict or list in pandas, JSON text in Arrow.

    Example:
        >>> c = Column("score", "float", "the evaluator's number")
        >>> c.name, c.required
        ('score', False)
    """

    name: str
    kind: Kind
    description: str
    required: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]


@dataclass(frozen=True)
class Table:
    """A declared table: a name, its row grain and its columns.

    Example:
        >>> SPANS.name, SPANS.grain
        ('spans', 'one row per span')
    """

    name: str
    grain: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @functools.cached_property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema (built once per table: the receiver and the store ask for it per batch)."""
        return pa.schema(
            [
                pa.field(c.name, c.arrow_type, nullable=not c.required, metadata={"description": c.description})
                for c in self.columns
            ],
            metadata={"llmops_nb.table": self.name, "llmops_nb.grain": self.grain},
        )

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns are {self.names}")

    def __repr__(self) -> str:
        return f"Table({self.name!r}, grain={self.grain!r}, {len(self.columns)} columns)"


C = Column

SPANS = Table(
    "spans",
    "one row per span",
    (
        C("trace_id", "str", "Trace id; OTel ids as 32 lowercase hex chars, other ids (UUIDs) kept as strings.", True),
        C("span_id", "str", "Span id; OTel ids as 16 lowercase hex chars, other ids kept as strings.", True),
        C("parent_span_id", "str", "The parent span's id; null for a root span."),
        C("name", "str", "The span's name as the instrumentation gave it."),
        C("kind", "str", "One of llm, chain, retriever, tool, agent, embedding, reranker, guardrail, evaluator, unknown.", True),
        C("start_time", "time", "Start of the span, UTC."),
        C("end_time", "time", "End of the span, UTC."),
        C("latency_ms", "float", "end_time - start_time in milliseconds."),
        C("status", "str", "One of ok, error, unset.", True),
        C("error_message", "str", "The error's message or type when status is error."),
        C("model", "str", "Model name the call asked for or that answered (llm and embedding spans)."),
        C("provider", "str", "Model provider or system (openai, anthropic, ...)."),
        C("input_messages", "messages", "Chat messages sent to the model: role, content, tool_calls, tool_call_id."),
        C("output_messages", "messages", "Chat messages the model returned."),
        C("input_text", "str", "Readable input for analysis: the last user message, the query, or the raw input."),
        C("output_text", "str", "Readable output for analysis: the assistant's answer or the raw output."),
        C("documents", "documents", "Retrieved documents: id, content, score, metadata."),
        C("tool_name", "str", "Tool name on tool spans."),
        C("tool_arguments", "str", "Tool arguments as JSON text on tool spans."),
        C("tool_result", "str", "Tool result as text on tool spans."),
        C("prompt_tokens", "int", "Input tokens."),
        C("completion_tokens", "int", "Output tokens (reasoning tokens included)."),
        C("total_tokens", "int", "Total tokens."),
        C("cost_usd", "float", "Cost in US dollars, as the source reported it; else estimated from litellm's price map "
          "(model and tokens), and then metadata.cost_estimated is true."),
        C("session_id", "str", "Conversation or session id."),
        C("user_id", "str", "End user id."),
        C("tags", "strings", "Free tags."),
        C("metadata", "json", "Application metadata (prompt version, tenant, ...) as a JSON object."),
        C("attributes", "json", "Every other attribute of the source record, raw, as a JSON object."),
        C("source_format", "str", "The loader that produced the row (otlp, langfuse, langsmith, ...).", True),
    ),
)
"""The spans table: one row per span."""

TRACES = Table(
    "traces",
    "one row per trace",
    (
        C("trace_id", "str", "Trace id.", True),
        C("root_span_id", "str", "The root span's id."),
        C("name", "str", "The root span's name."),
        C("start_time", "time", "Earliest span start, UTC."),
        C("end_time", "time", "Latest span end, UTC."),
        C("latency_ms", "float", "end_time - start_time in milliseconds."),
        C("input_text", "str", "The root span's readable input."),
        C("output_text", "str", "The root span's readable output."),
        C("n_spans", "int", "Number of spans."),
        C("n_llm", "int", "Number of llm spans."),
        C("n_tool", "int", "Number of tool spans."),
        C("n_retriever", "int", "Number of retriever spans."),
        C("n_errors", "int", "Number of spans with status error."),
        C("models", "strings", "Distinct models called, in order of first call."),
        C("prompt_tokens", "int", "Sum of input tokens over llm/embedding spans."),
        C("completion_tokens", "int", "Sum of output tokens."),
        C("total_tokens", "int", "Sum of total tokens."),
        C("cost_usd", "float", "Sum of cost."),
        C("has_error", "bool", "True when any span has status error."),
        C("session_id", "str", "Session id (first non-null over the trace's spans)."),
        C("user_id", "str", "User id (first non-null)."),
        C("tags", "strings", "Union of the spans' tags."),
        C("metadata", "json", "The spans' metadata merged, root last so it wins."),
        C("source_format", "str", "The loader that produced the trace."),
    ),
)
"""The traces table, derived from spans by :func:`llmops_nb.to_traces`: one row per trace."""

RESULTS = Table(
    "results",
    "one row per (item, evaluator output)",
    (
        C("result_id", "str", "Unique id of this result row.", True),
        C("run_id", "str", "The evaluation run that produced it."),
        C("trace_id", "str", "The evaluated trace."),
        C("span_id", "str", "The evaluated span; null when a whole trace was evaluated."),
        C("evaluator", "str", "Evaluator name (with '.key' for one output of a multi-output evaluator).", True),
        C("evaluator_version", "str", "Evaluator version."),
        C("params_hash", "str", "Short hash of the evaluator's parameters."),
        C("params", "json", "The evaluator's parameters, enough to rebuild it."),
        C("value", "json", "The raw value: bool, number or label."),
        C("score", "float", "Numeric view of the value (bool as 1.0 / 0.0)."),
        C("label", "str", "Label view of the value (bool as pass / fail)."),
        C("passed", "bool", "Pass / fail view where the evaluator defines one."),
        C("explanation", "str", "The evaluator's reason."),
        C("judge_model", "str", "Model used by an LLM judge."),
        C("prompt_tokens", "int", "Judge input tokens."),
        C("completion_tokens", "int", "Judge output tokens."),
        C("cost_usd", "float", "Judge cost in US dollars."),
        C("latency_ms", "float", "Time the evaluator took."),
        C("error", "str", "Error text when the evaluator failed; value is then null."),
        C("simulated", "bool", "True when the value came from a simulated judge."),
        C("created_at", "time", "When the row was made, UTC."),
        C("session_id", "str", "The evaluated session, for session-level results (trace_id and span_id are then null)."),
    ),
)
"""The evaluation results table (long): one row per (item, evaluator output)."""

LABELS = Table(
    "labels",
    "one row per human decision (append-only)",
    (
        C("label_id", "str", "Unique id of this decision.", True),
        C("trace_id", "str", "The labelled trace."),
        C("span_id", "str", "The labelled span; null for a trace-level label."),
        C("item_id", "str", "The queue item id (trace_id or trace_id/span_id)."),
        C("question", "str", "The schema question answered (pass_fail, category, note, ...).", True),
        C("value", "json", "The answer: bool, label, list of labels, number or text."),
        C("action", "str", "set, edit, undo, skip or flag."),
        C("previous_value", "json", "The value this decision replaced, when it is an edit or an undo."),
        C("annotator", "str", "Who decided.", True),
        C("reason", "str", "Why, when given (edits, undos)."),
        C("schema_version", "str", "Version of the annotation schema used."),
        C("queue", "str", "Queue name."),
        C("created_at", "time", "When the decision was made, UTC.", True),
        C("session_id", "str", "The labelled session, for session-level labels (trace_id is then null)."),
    ),
)
"""The labels table: human decisions, append-only, one row per decision."""

SESSIONS = Table(
    "sessions",
    "one row per session (conversation)",
    (
        C("session_id", "str", "Session id (the trace id for a trace without a session, with singletons=True).", True),
        C("n_turns", "int", "Number of turns (traces)."),
        C("trace_ids", "strings", "The turns' trace ids, in time order."),
        C("user_inputs", "strings", "Each turn's readable input (the user message), in turn order."),
        C("assistant_outputs", "strings", "Each turn's readable output (the assistant answer), in turn order."),
        C("start_time", "time", "Start of the first turn, UTC."),
        C("end_time", "time", "End of the last turn, UTC."),
        C("duration_ms", "float", "end_time - start_time in milliseconds."),
        C("input_text", "str", "The first turn's input."),
        C("output_text", "str", "The last turn's output."),
        C("n_spans", "int", "Number of spans over all turns."),
        C("n_llm", "int", "Number of llm spans."),
        C("n_tool", "int", "Number of tool spans."),
        C("n_errors", "int", "Number of spans with status error."),
        C("models", "strings", "Distinct models called, in order of first call."),
        C("tools", "strings", "Tool names called, in call order over the turns."),
        C("tool_calls", "json", "Tool calls in call order over the turns: {turn, name, arguments, status}."),
        C("prompt_tokens", "int", "Sum of input tokens over the turns."),
        C("completion_tokens", "int", "Sum of output tokens."),
        C("total_tokens", "int", "Sum of total tokens."),
        C("cost_usd", "float", "Sum of cost."),
        C("has_error", "bool", "True when any span of any turn has status error."),
        C("user_id", "str", "User id (first non-null over the turns)."),
        C("tags", "strings", "Union of the turns' tags."),
        C("metadata", "json", "The first turn's metadata (what was known when the conversation started)."),
        C("source_format", "str", "The loader that produced the first turn."),
    ),
)
"""The sessions table, derived from spans by :func:`llmops_nb.to_sessions`: one row per session;
session-level results add one column per evaluator."""


# --------------------------------------------------------------------------- conversions

def empty_frame(table: Table) -> pd.DataFrame:
    """An empty DataFrame with the table's columns and dtypes.

    Example:
        >>> empty_frame(SPANS).shape
        (0, 30)
    """
    return from_arrow(table.arrow_schema.empty_table(), table)


def _json_dumps(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str):
        return orjson.dumps(v).decode()
    try:
        return orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:  # an integer beyond 64 bits (a 128-bit id): kept exact, as its decimal text
        return orjson.dumps(_big_ints_as_text(v), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
                            default=str).decode()


def _big_ints_as_text(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and not -(1 << 63) <= v < (1 << 64):
        return str(v)
    if isinstance(v, dict):
        return {(_big_ints_as_text(k) if isinstance(k, int) else k): _big_ints_as_text(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_big_ints_as_text(x) for x in v]
    return v


def _json_column(values: list[Any]) -> list[str | None]:
    """JSON text of each value (None, NaN and pandas NA become null)."""
    dumps = orjson.dumps
    opt = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, (dict, list)):
            try:
                out.append(dumps(v, option=opt, default=str).decode())
            except TypeError:
                out.append(_json_dumps(v))
        else:
            out.append(_json_dumps(_nullify(v)))
    return out


def _json_loads(v: Any) -> Any:
    if v is None:
        return None
    return orjson.loads(v)


def is_missing(value: Any) -> bool:
    """True for the values that mean "no value" in a table: None, NaN, NaT and pandas NA.

    Example:
        >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, 0, "", [])]
        [True, True, True, True, False, False, False]
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    return False


def none_if_missing(value: Any) -> Any:
    """``value``, or None when it :func:`is_missing` (the one null that Arrow and JSON take).

    Example:
        >>> none_if_missing(float("nan")) is None, none_if_missing("x")
        (True, 'x')
    """
    return None if is_missing(value) else value


_nullify = none_if_missing  # the name used inside this module


Grain = Literal["sessions", "spans", "traces", "rows"]


def grain_of(frame: pd.DataFrame) -> Grain:
    """What one row of ``frame`` is: ``"sessions"`` (``session_id`` and ``trace_ids``),
    ``"spans"`` (``span_id`` and ``kind``), ``"traces"`` (``trace_id``) or ``"rows"``.

    Example:
        >>> grain_of(empty_frame(SPANS)), grain_of(empty_frame(TRACES)), grain_of(pd.DataFrame({"x": []}))
        ('spans', 'traces', 'rows')
    """
    cols = frame.columns
    if "session_id" in cols and "trace_ids" in cols:
        return "sessions"
    if "span_id" in cols and "kind" in cols:
        return "spans"
    if "trace_id" in cols:
        return "traces"
    return "rows"


def json_text(value: Any) -> str | None:
    """JSON text of a value with sorted keys (None for a missing value): how columns that Arrow
    cannot type (mixed objects, dicts) are stored.

    Example:
        >>> json_text({"b": 1, "a": [1, 2]}), json_text(float("nan"))
        ('{"a":[1,2],"b":1}', None)
    """
    v = value if isinstance(value, (list, dict, tuple, np.ndarray)) else none_if_missing(value)
    if v is None:
        return None
    return orjson.dumps(
        v, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def extra_to_arrow(column: pd.Series) -> tuple[pa.Array, bool]:
    """Arrow array of a column no table declares, and whether it is stored as JSON text:
    typed columns keep their type, text stays text, lists become Arrow lists, anything else
    (dicts, mixed values) becomes :func:`json_text`.

    Example:
        >>> arr, is_json = extra_to_arrow(pd.Series([{"a": 1}, None]))
        >>> arr.to_pylist(), is_json
        (['{"a":1}', None], True)
        >>> extra_to_arrow(pd.Series([1.5, None]))[0].type
        DataType(double)
    """
    s = column
    if s.dtype != object and not pd.api.types.is_string_dtype(s.dtype):
        try:
            return pa.array(s, from_pandas=True), False
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
    vals = [v if isinstance(v, (list, dict, tuple, np.ndarray)) else none_if_missing(v) for v in s.tolist()]
    present = [v for v in vals if v is not None]
    if all(isinstance(v, str) for v in present):
        return pa.array(vals, pa.string()), False
    if not any(isinstance(v, dict) for v in present):
        try:
            arr = pa.array([v.tolist() if isinstance(v, np.ndarray) else v for v in vals], from_pandas=True)
            if not pa.types.is_struct(arr.type) and not pa.types.is_null(arr.type):
                return arr, False
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    return pa.array([json_text(v) for v in vals], pa.string()), True


def _nested(v: Any) -> Any:
    """Turn numpy arrays inside nested values into lists so Arrow accepts them."""
    v = _nullify(v)
    if v is None:
        return None
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, list):
        return [_nested(x) if isinstance(x, (list, dict)) or hasattr(x, "tolist") else x for x in v]
    if isinstance(v, dict):
        return {k: _nested(x) if isinstance(x, (list, dict)) or hasattr(x, "tolist") else x for k, x in v.items()}
    return v


def to_arrow(df: pd.DataFrame, table: Table, *, sort_keys: bool = False) -> pa.Table:
    """Convert a frame of ``table`` to Arrow with the declared schema (JSON columns as text;
    ``sort_keys=True`` writes them with sorted keys, as :func:`json_text` does).

    Missing optional columns are filled with nulls; unknown columns are an error.

    Example:
        >>> to_arrow(empty_frame(SPANS), SPANS).num_rows
        0
    """
    extra = [c for c in df.columns if c not in table.names]
    if extra:
        raise ValueError(
            f"columns {extra} are not in the {table.name} table; valid columns: {table.names}. "
            "Put extra fields in 'metadata' or 'attributes'."
        )
    arrays = []
    n = len(df)
    for col in table.columns:
        if col.name not in df.columns:
            if col.required:
                raise ValueError(f"the {table.name} table needs column {col.name!r}, which is missing")
            arrays.append(pa.nulls(n, col.arrow_type))
            continue
        s = df[col.name]
        if col.kind == "json":
            texts = [json_text(v) for v in s.tolist()] if sort_keys else _json_column(s.tolist())
            arrays.append(pa.array(texts, pa.string()))
        elif col.kind in ("messages", "documents", "strings"):
            values = s.tolist()
            try:  # fast path: values already in the declared shape
                arrays.append(pa.array(values, col.arrow_type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                arrays.append(pa.array([_nested(v) for v in values], col.arrow_type))
        elif col.kind == "time":
            ts = pd.to_datetime(s, utc=True)
            arrays.append(pa.array(ts, TS, from_pandas=True))
        elif col.kind == "str":
            try:  # fast path: text and nulls only
                arrays.append(pa.array(s, pa.string(), from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                vals = [_nullify(v) for v in s.tolist()]
                arrays.append(pa.array([None if v is None else str(v) for v in vals], pa.string()))
        else:
            arrays.append(pa.array(s, col.arrow_type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema)


def from_arrow(data: pa.Table, table: Table) -> pd.DataFrame:
    """Convert Arrow data of ``table`` to pandas: JSON text becomes objects, lists become lists.

    Columns absent from ``data`` are added as nulls, so older stores still load.

    Example:
        >>> from_arrow(to_arrow(empty_frame(RESULTS), RESULTS), RESULTS).shape[0]
        0
    """
    out: dict[str, Any] = {}
    n = data.num_rows
    for col in table.columns:
        if col.name not in data.column_names:
            arr = pa.nulls(n, col.arrow_type)
        else:
            arr = data.column(col.name)
            if arr.type != col.arrow_type:
                arr = arr.cast(col.arrow_type)
        if col.kind == "json":
            out[col.name] = pd.Series([_json_loads(v) for v in arr.to_pylist()], dtype=object)
        elif col.kind in ("messages", "documents", "strings"):
            out[col.name] = pd.Series(arr.to_pylist(), dtype=object)
        elif col.kind == "int":
            out[col.name] = arr.to_pandas().astype("Int64")
        elif col.kind == "bool":
            out[col.name] = arr.to_pandas().astype("boolean")
        elif col.kind == "str":
            out[col.name] = pd.Series(arr.to_pandas(), dtype=object).where(lambda x: x.notna(), None)
        else:
            out[col.name] = arr.to_pandas()
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def frame_to_arrow(frame: pd.DataFrame, table: Table, *, sort_keys: bool = False) -> tuple[pa.Table, list[str]]:
    """Arrow of a frame of ``table`` that may also hold columns ``table`` does not declare: the
    declared ones typed as declared (:func:`to_arrow`), then the others (:func:`extra_to_arrow`);
    and the names of the columns held as JSON text (give them back to :func:`arrow_to_frame`).

    Example:
        >>> t, js = frame_to_arrow(pd.DataFrame({"trace_id": ["t"], "extra": [{"a": 1}]}), TRACES)
        >>> t.column("extra").to_pylist(), "extra" in js, "metadata" in js
        (['{"a":1}'], True, True)
    """
    declared = [c for c in frame.columns if c in table.names]
    base = to_arrow(frame[declared], table, sort_keys=sort_keys)
    json_cols = [c.name for c in table.columns if c.kind == "json"]
    for c in frame.columns:
        if c in table.names:
            continue
        if not isinstance(c, str):
            raise ValueError(f"column names must be strings, got {c!r}")
        arr, is_json = extra_to_arrow(frame[c])
        if pa.types.is_null(arr.type):
            arr = arr.cast(pa.string())
        base = base.append_column(pa.field(c, arr.type), arr)
        if is_json:
            json_cols.append(c)
    return base, json_cols


def _parse_json_text(col: pa.ChunkedArray | pa.Array) -> pd.Series:
    """JSON text -> Python objects, parsed in one orjson call for the whole column (a cell that
    is not JSON is kept as its text)."""
    vals = col.to_pylist()
    try:
        parsed = orjson.loads("[" + ",".join("null" if v is None else v for v in vals) + "]")
    except orjson.JSONDecodeError:  # a malformed cell: parse one by one to keep the others
        parsed = []
        for v in vals:
            try:
                parsed.append(None if v is None else orjson.loads(v))
            except orjson.JSONDecodeError:
                parsed.append(v)
    if len(parsed) != len(vals):  # pragma: no cover - a cell held several values
        parsed = [None if v is None else orjson.loads(v) for v in vals]
    return pd.Series(parsed, dtype=object)


def arrow_to_frame(data: pa.Table, table: Table, json_columns: Sequence[str] = ()) -> pd.DataFrame:
    """pandas frame of what :func:`frame_to_arrow` wrote: the declared columns with the declared
    dtypes (:func:`from_arrow`), JSON text (declared JSON columns and ``json_columns``) parsed
    back, the other columns after them.

    Example:
        >>> t, js = frame_to_arrow(pd.DataFrame({"trace_id": ["t"], "extra": [{"a": 1}]}), TRACES)
        >>> arrow_to_frame(t, TRACES, js).loc[0, "extra"]
        {'a': 1}
    """
    declared_json = [c.name for c in table.columns if c.kind == "json"]
    decl = [c for c in table.names if c in data.column_names and c not in declared_json]
    out = from_arrow(data.select(decl), table)
    for c in declared_json:
        if c in data.column_names:
            out[c] = _parse_json_text(data.column(c))
    for c in data.column_names:
        if c in table.names:
            continue
        col = data.column(c)
        t = col.type
        if c in json_columns:
            out[c] = _parse_json_text(col)
        elif (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_list(t) or pa.types.is_struct(t)
              or pa.types.is_large_list(t)):
            out[c] = pd.Series(col.to_pylist(), dtype=object)
        else:
            out[c] = col.to_pandas()
    return out


def conform(records: Iterable[Mapping[str, Any]] | pd.DataFrame, table: Table) -> pd.DataFrame:
    """Build a frame of ``table`` from records (or a frame), with every column and the declared dtypes.

    Example:
        >>> df = conform([{"trace_id": "t", "span_id": "s", "kind": "llm", "status": "ok",
        ...                "source_format": "test"}], SPANS)
        >>> df.loc[0, "kind"], df["prompt_tokens"].dtype
        ('llm', Int64Dtype())
    """
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    return from_arrow(to_arrow(df, table), table)


def schema_markdown(tables: Sequence[Table] = (SPANS, TRACES, SESSIONS, RESULTS, LABELS)) -> str:
    """The tables as Markdown (used in the README).

    Example:
        >>> "| trace_id |" in schema_markdown([SPANS])
        True
    """
    parts = []
    for t in tables:
        parts.append(f"### `{t.name}`: {t.grain}\n\n| column | type | description |\n|---|---|---|")
        for c in t.columns:
            req = " (required)" if c.required else ""
            parts.append(f"| {c.name} | {c.kind}{req} | {c.description} |")
        parts.append("")
    return "\n".join(parts)
