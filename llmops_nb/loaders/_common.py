"""Shared helpers for loaders: id and time normalisation, message shapes, load errors."""

from __future__ import annotations

import base64
import binascii
import contextvars
import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

from llmops_nb.schema import SPANS

__all__ = [
    "LoadError",
    "NoTraceData",
    "otel_id",
    "text_id",
    "per_record",
    "read_bytes",
    "open_lines",
    "MAX_DECOMPRESSED_BYTES",
    "decompressed_limit",
    "to_utc",
    "message",
    "text_of",
    "json_text",
    "last_user_text",
    "assistant_text",
    "SpanColumns",
]


class LoadError(ValueError):
    """A record could not be loaded: says which file, which record and what was expected.

    Example:
        >>> e = LoadError("span_id is missing", file="traces.jsonl", record=3)
        >>> isinstance(e, ValueError)
        True
    """

    def __init__(self, message: str, *, file: str | None = None, record: Any = None, expected: str | None = None):
        self.file = file
        self.record = record
        self.expected = expected
        self.reason = message
        where = []
        if file:
            where.append(f"file {file}")
        if record is not None:
            where.append(f"record {record}")
        text = (", ".join(where) + ": " if where else "") + message
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)

    def __reduce__(self) -> Any:  # picklable with its keyword arguments (raised in read_traces' worker processes)
        return _rebuild_error, (type(self), self.reason, self.file, self.record, self.expected)


def _rebuild_error(cls: type[LoadError], message: str, file: str | None, record: Any, expected: str | None) -> LoadError:
    return cls(message, file=file, record=record, expected=expected)


class NoTraceData(LoadError):
    """A file of a known container (a cassette, a HAR file) that holds no trace data: an error
    when the file is named, skipped as "not a trace file" when a directory is walked."""


_HEX = set("0123456789abcdef")

_NOT_AN_ID = (list, tuple, dict, set, frozenset, Mapping, float, bool)


def _bad_id(value: Any) -> LoadError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return LoadError(f"an id is a {type(value).__name__} ({shown})",
                     expected="ids as text (hex, UUID, any string) or whole numbers")


def text_id(value: Any) -> str | None:
    """An id as text: strings stay, whole numbers become their decimal text; lists, objects,
    booleans and fractional numbers are a :class:`LoadError` (never a text id ``"[1, 2, 3]"``).

    Example:
        >>> text_id("run-1"), text_id(7), text_id(None)
        ('run-1', '7', None)
        >>> text_id([1, 2, 3])
        Traceback (most recent call last):
        ...
        llmops_nb.loaders._common.LoadError: an id is a list ([1, 2, 3]) (expected ids as text (hex, UUID, any string) or whole numbers)
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        return value.hex() if value else None
    if isinstance(value, _NOT_AN_ID):
        raise _bad_id(value)
    if hasattr(value, "__index__"):  # numpy integers
        return str(value.__index__())
    if hasattr(value, "dtype") or hasattr(value, "__iter__"):  # arrays and other containers
        raise _bad_id(value)
    return str(value)  # UUID objects and the like


def otel_id(value: Any, nbytes: int) -> str | None:
    """Normalise an OTel trace id (16 bytes) or span id (8 bytes) to lowercase hex.

    Accepts hex (any case, optional ``0x``), base64 (as OTLP/JSON from some SDKs and protobuf
    JSON mapping write them), raw bytes and decimal integers (or their strings). Other ids
    (UUIDs, free strings) are returned unchanged.

    Example:
        >>> otel_id("0x5B8EFFF798038103D269B633813FC60C", 16)
        '5b8efff798038103d269b633813fc60c'
        >>> otel_id(1, 8)
        '0000000000000001'
        >>> otel_id("W47/95gDgQPSabYzgT/GDA==", 16)
        '5b8efff798038103d269b633813fc60c'
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex() if value else None
    if isinstance(value, _NOT_AN_ID) and not (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        raise _bad_id(value)
    if isinstance(value, float):
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            value &= (1 << (8 * nbytes)) - 1
        return format(value, f"0{2 * nbytes}x")
    if type(value) is str and len(value) == 2 * nbytes and value.isalnum():  # fast path: plain hex
        try:
            return value.lower() if int(value, 16) else None
        except ValueError:
            pass
    s = str(value).strip()
    if not s:
        return None
    low = s.lower()
    if low.startswith("0x"):
        low = low[2:]
    if len(low) == 2 * nbytes and set(low) <= _HEX:
        if set(low) == {"0"}:
            return None
        return low
    if s.isdigit() and len(s) <= 40:
        n = int(s)
        if n < (1 << (8 * nbytes)):
            return format(n, f"0{2 * nbytes}x")
    if len(s) in (12, 24) and len(s) == 4 * math.ceil(nbytes / 3):
        try:
            raw = base64.b64decode(s, validate=True)
            if len(raw) == nbytes:
                return raw.hex()
        except (binascii.Error, ValueError):
            pass
    return s


def to_utc(value: Any) -> datetime | None:
    """Parse a timestamp (ISO text, epoch seconds / ms / us / ns as number or text,
    ``[seconds, nanos]``) into a tz-aware UTC datetime.

    Example:
        >>> to_utc("1544712660000000000").isoformat()
        '2018-12-13T14:51:00+00:00'
        >>> to_utc("2025-09-30T09:03:59.962Z").isoformat()
        '2025-09-30T09:03:59.962000+00:00'
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return datetime.fromtimestamp(float(value[0]) + float(value[1]) / 1e9, tz=timezone.utc)
    if isinstance(value, str) and not value.lstrip("-").replace(".", "", 1).isdigit():
        s = value.strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            import pandas as pd

            dt = pd.Timestamp(value).to_pydatetime()
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    x = float(value)
    if x == 0:
        return None
    ax = abs(x)
    if ax > 1e17:
        x /= 1e9
    elif ax > 1e14:
        x /= 1e6
    elif ax > 1e11:
        x /= 1e3
    if isinstance(value, str) and value.isdigit() and len(value) >= 18:
        # keep nanosecond text exact to the microsecond
        n = int(value)
        from datetime import timedelta

        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=n // 1000)
    return datetime.fromtimestamp(x, tz=timezone.utc)


def json_text(v: Any) -> str | None:
    """A value as JSON text (text stays as it is)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return orjson.dumps(v, default=str).decode()


def text_of(content: Any) -> str | None:
    """Readable text of a message content: a string, or the text parts of a list of parts."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if type(content) is dict or isinstance(content, Mapping):
        for k in ("text", "content", "value"):
            if isinstance(content.get(k), str):
                return content[k]
        return json_text(content)
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif type(p) is dict or isinstance(p, Mapping):
                t = p.get("text") if isinstance(p.get("text"), str) else p.get("content")
                if isinstance(t, str):
                    parts.append(t)
                elif p.get("type") in ("tool_call", "tool-call", "function_call", "tool_call_response", "tool-result", "tool_result"):
                    continue
                elif t is not None:
                    parts.append(json_text(t) or "")
        return "\n".join(parts) if parts else None
    return str(content)


def as_map(v: Any) -> Any:
    """``v`` when it is a mapping, else an empty dict (typed ``Any`` for easy chaining)."""
    return v if (type(v) is dict or isinstance(v, Mapping)) else {}


def message(
    role: Any,
    content: Any = None,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    tool_call_id: Any = None,
) -> dict[str, Any]:
    """A canonical message dict (role, content text, tool_calls [{id, name, arguments}], tool_call_id)."""
    calls = []
    for c in tool_calls or []:
        fn = as_map(c.get("function")) if not isinstance(c.get("function"), str) else {"name": c["function"]}
        args = c.get("arguments", fn.get("arguments") if fn else None)
        if args is None:
            args = c.get("args", c.get("input"))
        calls.append(
            {
                "id": None if c.get("id") is None else str(c.get("id")),
                "name": c.get("name") or (fn.get("name") if fn else None) or c.get("toolName"),
                "arguments": json_text(args),
            }
        )
    return {
        "role": None if role is None else str(role).lower(),
        "content": text_of(content),
        "tool_calls": calls or None,
        "tool_call_id": None if tool_call_id is None else str(tool_call_id),
    }


def last_user_text(messages: list[dict[str, Any]] | None) -> str | None:
    """The content of the last user message (else the last message with content)."""
    if not messages:
        return None
    for m in reversed(messages):
        if m.get("role") == "user" and m.get("content"):
            return m["content"]
    for m in reversed(messages):
        if m.get("content"):
            return m["content"]
    return None


def assistant_text(messages: list[dict[str, Any]] | None) -> str | None:
    """The text of the output messages (assistant content joined)."""
    if not messages:
        return None
    parts = [m["content"] for m in messages if m.get("content")]
    return "\n".join(parts) if parts else None


# ---------------------------------------------------------------------- bad input, shared by every format

MAX_DECOMPRESSED_BYTES = 1 << 30
"""Default limit of the bytes a compressed file may inflate to (1 GiB); see :func:`decompressed_limit`."""

_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("llmops_nb_max_decompressed", default=MAX_DECOMPRESSED_BYTES)


class decompressed_limit:
    """Set the most bytes a compressed trace file may inflate to (``None``: no limit), for the
    ``with`` block or, called plainly, from now on. ``read_traces(..., max_decompressed_bytes=)``
    sets it for one call. A file over the limit is a :class:`LoadError` (a decompression bomb:
    a 4 MB ``.json.gz`` inflating to 4 GiB), not a ``MemoryError``.

    Example:
        >>> with decompressed_limit(10 << 20):
        ...     pass
    """

    def __init__(self, max_bytes: int | None) -> None:
        if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"max_decompressed_bytes={max_bytes!r}; pass a positive number of bytes or None (no limit)")
        self._token = _LIMIT.set(max_bytes)

    def __enter__(self) -> decompressed_limit:
        return self

    def __exit__(self, *exc: Any) -> None:
        _LIMIT.reset(self._token)


def current_decompressed_limit() -> int | None:
    """The decompressed-size limit in force (see :class:`decompressed_limit`), for readers of
    other containers (zip members, encoded bodies) to honour."""
    return _LIMIT.get()


def too_big(path: str, limit: int) -> LoadError:
    """The LoadError of a file that inflates past ``limit``."""
    return _too_big(path, limit)


def _too_big(path: str, limit: int) -> LoadError:
    return LoadError(
        f"the file inflates to more than {limit:,} bytes (a decompression bomb, or a file larger than the limit)",
        file=path,
        expected="a compressed file within the limit; raise it with read_traces(..., max_decompressed_bytes=N) "
                 "or llmops_nb.loaders.decompressed_limit(N) if the file is trusted",
    )


def _truncated(path: str, e: BaseException) -> LoadError:
    return LoadError(f"the compressed file is truncated or corrupt ({type(e).__name__}: {e})", file=path,
                     expected="a complete gzip file")


def read_bytes(path: str) -> bytes:
    """The bytes of a file, gunzipped when it is gzip, within the decompressed-size limit;
    a truncated or corrupt ``.gz`` is a :class:`LoadError` naming the file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x1f\x8b":
        return data
    limit = _LIMIT.get()
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:  # concatenated gzip members, as gzip.decompress reads them
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            buf = rest
            while True:
                chunk = d.decompress(buf, 1 << 20)  # at most 1 MiB out per step: a bomb never inflates whole
                size += len(chunk)
                if limit is not None and size > limit:
                    raise _too_big(path, limit)
                out.append(chunk)
                if d.eof:
                    break
                buf = d.unconsumed_tail
                if not buf and not chunk:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
            rest = d.unused_data.lstrip(b"\x00")
            if rest[:2] != b"\x1f\x8b":
                break
    except (EOFError, zlib.error) as e:
        raise _truncated(path, e) from None
    return b"".join(out)


_LINE_BUFFER = 1 << 20


def open_lines(path: str) -> Iterator[bytes]:
    """The lines of a (possibly gzip) file, streamed, within the decompressed-size limit (the
    whole file for gzip; each line for plain files); truncation is a :class:`LoadError`."""
    import gzip

    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    limit = _LIMIT.get()
    size = 0
    if not gz:
        mapped = _mapped_lines(path, limit)
        if mapped is not None:
            yield from mapped
            return
    try:
        # a 1 MB read buffer: export lines are often hundreds of KB, which the default 8 KB buffer
        # reads in many small copies (about 0.3 us a span on the bench's OTLP/JSON lines)
        with (gzip.open(path, "rb") if gz else open(path, "rb", buffering=_LINE_BUFFER)) as f:
            while True:
                line = f.readline(limit + 1 if limit is not None else -1)
                if not line:
                    return
                size += len(line)
                if limit is not None and ((gz and size > limit) or len(line) > limit):
                    raise _too_big(path, limit)
                yield line
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _truncated(path, e) from None


_CHECK_EVERY = 1 << 20  # bytes read between two checks that the file has not shrunk under the mapping


def _mapped_lines(path: str, limit: int | None) -> Iterator[bytes] | None:
    """The lines of a plain file read through a memory map (no read() copies into a buffer: about
    0.4 us a span less on the bench's OTLP/JSON lines), or None when it cannot be mapped (empty, not
    a regular file). A file that shrinks while it is read (truncated by its writer) is a
    :class:`LoadError`, checked every MB, before the pages past its new end are touched."""
    import mmap

    f = open(path, "rb")  # noqa: SIM115 - closed by _each_line, which takes it over with the map
    try:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (ValueError, OSError):
        f.close()
        return None
    return _each_line(f, mm, path, limit)


def _each_line(f: Any, mm: Any, path: str, limit: int | None) -> Iterator[bytes]:
    import mmap

    with f, mm:
        size, pos, checked, released = len(mm), 0, 0, 0
        fd = f.fileno()
        while pos < size:
            if pos >= checked:
                if os.fstat(fd).st_size < size:
                    raise LoadError(f"the file shrank from {size} bytes while it was read", file=path,
                                    expected="a file that its writer does not truncate while it is read")
                checked = pos + _CHECK_EVERY
                done = pos - pos % mmap.PAGESIZE  # the pages read so far leave the process's memory
                if done > released and hasattr(mm, "madvise"):
                    mm.madvise(mmap.MADV_DONTNEED, released, done - released)
                    released = done
            end = mm.find(b"\n", pos, min(size, pos + (limit + 1 if limit is not None else size)))
            end = (min(size, pos + limit + 1) if limit is not None else size) if end < 0 else end + 1
            if limit is not None and end - pos > limit:
                raise _too_big(path, limit)
            yield mm[pos:end]
            pos = end


def per_record(ctx: Mapping[str, Any] | None, ref: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` for one record inside a file (a span of a document, a run of a list).

    A failure names the record (``ref``): with ``errors="raise"`` it is raised as a
    :class:`LoadError`; with ``errors="skip"`` only this record is skipped and reported, and
    ``None`` is returned, so one bad span never drops the rest of its file.
    """
    try:
        return fn(*args)
    except (RecursionError, MemoryError):
        raise
    except Exception as e:
        outer = (ctx or {}).get("record")
        where = ref if outer is None else f"{outer} {ref}"
        if isinstance(e, LoadError):
            err = LoadError(e.reason, file=e.file or (ctx or {}).get("file"), record=where if e.record is None else f"{where} {e.record}",
                            expected=e.expected)
        else:
            err = LoadError(f"{type(e).__name__}: {e}", file=(ctx or {}).get("file"), record=where)
        skip = (ctx or {}).get("skip")
        if skip is None:
            raise err from e
        skip(err)
        return None


SPAN_NAMES: tuple[str, ...] = tuple(SPANS.names)
"""The spans table's columns, in order."""


_NATIVE_HELPERS: dict[str, Any] = {}  # the native loaders module's helpers by name, None without it


def _native_helper(name: str) -> Any:
    """``name`` of the native loaders module (``_otlp_pb``: ``transpose``, ``only_text``,
    ``span_tree``...), None without it (``LLMOPS_NB_NATIVE=0``, no build); looked up on first use,
    not at import."""
    f = _NATIVE_HELPERS.get(name, False)
    if f is False:
        from llmops_nb.loaders._otlp_fast import NATIVE

        f = _NATIVE_HELPERS[name] = getattr(NATIVE, name, None)
    return f


class SpanColumns:
    """Spans rows held column by column (``columns``: spans column -> list, every list ``n`` long).

    Iterating gives the row dicts (the mapping's rows, in order), so code that takes a loader's
    rows takes this too; :func:`llmops_nb.read_traces` takes the columns as they are.

    Example:
        >>> from llmops_nb.loaders.otlp import map_otlp_json
        >>> doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",
        ...     "spanId": "d269b633813fc60c", "name": "chat", "attributes": [
        ...     {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}]}]}]}]}
        >>> cols = map_otlp_json(doc)
        >>> cols.n, cols.columns["model"], next(iter(cols))["kind"]
        (1, ['gpt-4o'], 'llm')
    """

    __slots__ = ("columns", "n", "canonical", "times_us")

    def __init__(self, columns: dict[str, list[Any]], n: int, canonical: bool = False, times_us: bool = False) -> None:
        self.columns = columns
        self.n = n
        self.canonical = canonical
        """Whether the messages and documents are already in their canonical shape (exactly the
        struct's keys, as ``message()`` builds them): the frame keeps them as they are."""
        self.times_us = times_us
        """Whether ``start_time``/``end_time`` hold whole microseconds since 1970 (as
        ``read_traces`` asks the OTLP mapping for) rather than ``datetime`` objects."""

    @classmethod
    def from_tuples(cls, rows: list[tuple[Any, ...]], canonical: bool = False) -> SpanColumns:
        """Columns of rows given as tuples in the spans table's column order."""
        if not rows:
            return cls({name: [] for name in SPAN_NAMES}, 0, canonical)
        native = _native_helper("transpose")
        cols = native(rows, len(SPAN_NAMES)) if native is not None and type(rows) is list else None
        if cols is not None:  # every row a tuple of every column: one pass in C
            return cls(dict(zip(SPAN_NAMES, cols)), len(rows), canonical)
        return cls(dict(zip(SPAN_NAMES, map(list, zip(*rows)))), len(rows), canonical)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[dict[str, Any]]:
        cols = [self._datetimes(name) for name in SPAN_NAMES]
        for i in range(self.n):
            yield {name: c[i] for name, c in zip(SPAN_NAMES, cols)}

    def _datetimes(self, name: str) -> list[Any]:
        """A column, times as ``datetime`` objects."""
        col = self.columns[name]
        if self.times_us and name in ("start_time", "end_time"):
            from datetime import timedelta

            epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
            return [None if x is None else epoch + timedelta(microseconds=x) for x in col]
        return col

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (every spans column, in the table's order)."""
        return list(self)

    def to_arrow(self) -> Any:
        """The rows as an Arrow table with the spans schema (the store's write format), as the
        receiver stores them: an unknown kind is ``unknown``, an unknown status ``unset``, a missing
        latency is end - start. Built from the columns (no row dicts)."""
        import pandas as pd

        from llmops_nb.schema import SPAN_KINDS, SPAN_STATUSES, SPANS, to_arrow

        kinds, statuses = frozenset(SPAN_KINDS), frozenset(SPAN_STATUSES)
        if self.times_us and self.canonical:  # times straight from the microseconds (no datetime objects)
            cols = dict(self.columns)
            table = _us_arrow(cols, kinds, statuses)
            if table is not None:
                return table
        cols = {name: self._datetimes(name) for name in SPAN_NAMES}
        if not kinds.issuperset(cols["kind"]):
            cols["kind"] = [k if k in kinds else "unknown" for k in cols["kind"]]
        if not statuses.issuperset(cols["status"]):
            cols["status"] = [st if st in statuses else "unset" for st in cols["status"]]
        cols["latency_ms"] = [
            (e - s).total_seconds() * 1000.0 if lat is None and s is not None and e is not None else lat
            for lat, s, e in zip(cols["latency_ms"], cols["start_time"], cols["end_time"])
        ]
        table = _plain_arrow(cols, SPANS) if self.canonical else None
        if table is not None:
            return table
        return to_arrow(pd.DataFrame({name: pd.Series(cols[name], dtype=object) for name in SPAN_NAMES}), SPANS)


_PLAIN_TYPES = {
    "str": frozenset((str, type(None))), "int": frozenset((int, type(None))), "float": frozenset((float, int, type(None))),
    "time": frozenset((datetime, type(None))), "json": frozenset((dict, type(None))),
}


def _us_arrow(cols: dict[str, list[Any]], kinds: frozenset[str], statuses: frozenset[str]) -> Any:
    """:meth:`SpanColumns.to_arrow` of columns whose times are whole microseconds since 1970: the
    same table (a missing latency is ``(end - start) / 10**6 * 1000.0``, what ``timedelta.total_seconds()``
    gives), the time columns built from the integers; None when they are not all integers."""
    import pyarrow as pa

    from llmops_nb.schema import SPANS

    ints = _PLAIN_TYPES["int"]
    start, end = cols["start_time"], cols["end_time"]
    if not (ints.issuperset(map(type, start)) and ints.issuperset(map(type, end))):
        return None
    if not kinds.issuperset(cols["kind"]):
        cols["kind"] = [k if k in kinds else "unknown" for k in cols["kind"]]
    if not statuses.issuperset(cols["status"]):
        cols["status"] = [st if st in statuses else "unset" for st in cols["status"]]
    cols["latency_ms"] = [
        (e - s) / 1_000_000 * 1000.0 if lat is None and s is not None and e is not None else lat
        for lat, s, e in zip(cols["latency_ms"], start, end)
    ]
    times = {name: pa.array(cols[name], pa.int64()).cast(SPANS.column(name).arrow_type) for name in ("start_time", "end_time")}
    return _plain_arrow(cols, SPANS, times)


def _plain_arrow(cols: Mapping[str, list[Any]], table: Any, built: Mapping[str, Any] | None = None) -> Any:
    """The Arrow table ``llmops_nb.schema.to_arrow`` gives for these columns, built straight from
    the lists when every value has the plain type of its column (text, whole numbers, floats,
    datetimes, dicts, canonical messages and documents); else None (the caller goes through pandas).
    ``built``: columns already made into Arrow arrays."""
    import pyarrow as pa

    arrays = []
    opt = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    try:
        for col in table.columns:
            if built is not None and col.name in built:
                arrays.append(built[col.name])
                continue
            vals = cols[col.name]
            plain = _PLAIN_TYPES.get(col.kind)
            # text needs no look at each value's type: Arrow refuses in a string column whatever
            # schema.to_arrow's path would not keep as is (numbers, NaN, NA: then the pandas path)
            if plain is not None and col.kind != "str" and not plain.issuperset(map(type, vals)):
                return None
            if col.kind == "json":
                arrays.append(pa.array([None if v is None else orjson.dumps(v, option=opt, default=str).decode() for v in vals],
                                       pa.string()))
            elif col.kind == "float":
                arrays.append(pa.array(vals, col.arrow_type, from_pandas=True))
            else:
                arrays.append(pa.array(vals, col.arrow_type))
        return pa.Table.from_arrays(arrays, schema=table.arrow_schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None
