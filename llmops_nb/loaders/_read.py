"""``read_traces``: any source, any registered format, one spans table."""

from __future__ import annotations

import glob as _glob
import operator
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd

from llmops_nb.engines import Engine, resolve_engine
from llmops_nb.loaders._common import (
    _NATIVE_HELPERS,  # noqa: F401 - tests switch a native helper off here
    LoadError,
    NoTraceData,
    SpanColumns,
    _native_helper,
    decompressed_limit,
    open_lines,
    read_bytes,
)
from llmops_nb.loaders._registry import Format, detection_order, get_format
from llmops_nb.schema import SPAN_KINDS, SPAN_STATUSES, SPANS, empty_frame

__all__ = ["read_traces", "LoadReport"]

_TABULAR = (".csv", ".parquet", ".pq", ".tsv")
_DATA_EXT = (".json", ".jsonl", ".ndjson", ".pb", ".bin", ".protobuf", ".csv", ".tsv", ".parquet", ".pq",
             ".yaml", ".yml", ".eval", ".har", ".traj")


_BIG_INT = re.compile(rb"[:\[,]\s*-?\d{20,}")
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789:[,", b"0000000000:::")
_BIG_INT_HINT = b":" + b"0" * 20


def _has_big_int(data: bytes) -> bool:
    """Whether ``data`` holds a JSON integer beyond 64 bits (``_BIG_INT``), five times faster than
    the regex alone: digits mapped to 0, separators to ':', whitespace and '-' dropped, so any match
    of the regex becomes ':' + 20 zeros (the regex then confirms the rare hint)."""
    if data.translate(_DIGITS_AS_ZERO, b" \t\n\r\x0b\x0c-").find(_BIG_INT_HINT) < 0:
        return False
    return _BIG_INT.search(data) is not None


class _Unknown(LoadError):
    """No registered format recognises a record (files found by walking a directory are then ignored)."""


class LoadReport(pd.DataFrame):
    """The records that ``read_traces(..., errors="skip")`` skipped or repaired:
    one row per problem, with ``file``, ``record``, ``error`` and ``action``.

    Example:
        >>> import llmops_nb as lo
        >>> spans, report = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}], format="records",
        ...                                errors="skip")
        >>> len(spans), len(report)
        (1, 0)
    """

    @property
    def _constructor(self) -> type:
        return LoadReport


class _InDir(str):
    """A path found by walking a directory: files no format recognises are skipped, not errors."""


class _Remote(str):
    """An object-store URL (``s3://bucket/key``, ...): copied through fsspec to a local temporary
    file, read like a local file, and named by its URL in errors and reports."""

    size: int | None = None  # bytes, from the listing (how many processes read by default)


def _remote(cls: type[_Remote], url: str, info: Any) -> _Remote:
    r = cls(url)
    size = info.get("size") if isinstance(info, dict) else None
    r.size = size if isinstance(size, int) else None
    return r


class _RemoteInDir(_Remote, _InDir):
    """An object found under a prefix (as a file found by walking a directory)."""


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def _url_fs(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path within it (s3fs, gcsfs... imported by fsspec)."""
    import fsspec

    protocol = url.split("://", 1)[0].lower()
    if protocol in ("s3", "s3a"):
        from llmops_nb._optional import require

        require("s3fs", f"reading {url}")
    try:
        return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError as e:
        raise ImportError(f"reading {url} needs the fsspec filesystem of {protocol}://: {e}") from e


def _expand_url(url: str) -> list[Any]:
    """The objects a URL names: one key, every trace file under a prefix, or a glob's matches."""
    fs, path = _url_fs(url)
    expected = "an existing object, a prefix holding trace files, or a glob matching some"
    try:
        if any(ch in path for ch in "*?["):
            matches = fs.glob(path, detail=True)
            found = sorted(p for p, info in matches.items() if info.get("type") == "file")
            if not found:
                raise LoadError("no object matches the pattern", file=url, expected=expected)
            return [_remote(_Remote, fs.unstrip_protocol(p), matches[p]) for p in found]
        if not url.endswith("/") and fs.isfile(path):
            return [_remote(_Remote, url, fs.info(path))]
        root = path.rstrip("/")
        listed = fs.find(root, detail=True) if fs.isdir(root) else {}
        keys = sorted(listed)
        found = [k for k in keys if not any(part.startswith(".") for part in k[len(root):].split("/"))
                 and k.lower().removesuffix(".gz").endswith(_DATA_EXT)]
        if not found:
            what = (f"{len(keys)} objects under the prefix, none a trace file ({', '.join(_DATA_EXT)})" if keys
                    else "no such object or prefix")
            raise LoadError(what, file=url, expected=expected)
        return [_remote(_RemoteInDir, fs.unstrip_protocol(k), listed[k]) for k in found]
    except (OSError, ValueError) as e:
        if isinstance(e, LoadError):
            raise
        raise LoadError(f"cannot list it ({type(e).__name__}: {e})", file=url, expected=expected) from e


def _fetch(url: str, folder: str) -> str:
    """Copy the object ``url`` into ``folder`` under its own name (formats detect by name) and return
    the local path."""
    fs, path = _url_fs(url)
    local = os.path.join(folder, path.rstrip("/").rsplit("/", 1)[-1] or "object")
    fs.get_file(path, local)
    return local


def _renamed(err: BaseException, path: str, url: str) -> BaseException:
    """``err`` naming ``url`` where it names the local copy ``path`` of it."""
    if path == url or not isinstance(err, LoadError):
        return err
    if err.file not in (None, path) and path not in err.reason:
        return err
    new = type(err)(err.reason.replace(path, url), file=url if err.file in (None, path) else err.file,
                    record=err.record, expected=err.expected)
    new.__cause__ = err.__cause__
    return new


def _expand(source: Any) -> list[Any]:
    if isinstance(source, (str, os.PathLike)):
        s = str(source)
        if _URL.match(s):
            return _expand_url(s)
        p = Path(s)
        if p.is_dir():
            return sorted(
                _InDir(f) for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and f.name.lower().removesuffix(".gz").endswith(_DATA_EXT)
            )
        if any(ch in s for ch in "*?[") and not p.exists():  # a real file may have brackets in its name
            found = sorted(_glob.glob(s, recursive=True))
            if not found:
                raise FileNotFoundError(f"no file matches the pattern {s!r}")
            return found
        if not p.exists():
            raise FileNotFoundError(f"no such file or directory: {s!r}")
        return [s]
    if isinstance(source, pd.DataFrame):
        return [source]
    if isinstance(source, Mapping):
        return [[source]]
    datasets = sys.modules.get("datasets")  # a Dataset exists only once its package is imported (never imported here: 1 s)
    if datasets is not None and isinstance(source, datasets.Dataset):
        return [source.to_pandas()]
    if isinstance(source, (list, tuple)) and source and all(isinstance(x, (str, os.PathLike)) for x in source):
        out: list[Any] = []
        for x in source:
            out.extend(_expand(x))
        return out
    if isinstance(source, Iterable):
        return [source]
    raise TypeError(
        f"source of type {type(source).__name__} is not supported; pass a path, a directory, a glob, "
        "a list of paths, a DataFrame, a datasets.Dataset or an iterable of dicts"
    )


def _open_bytes(path: str) -> bytes:
    return read_bytes(path)  # gunzipped within the decompressed-size limit


def _loads(data: bytes) -> Any:
    """orjson, falling back to the standard library for integers beyond 64 bits (decimal OTel ids)."""
    if _has_big_int(data):
        import json  # orjson turns integers beyond 64 bits into floats and loses the digits

        return json.loads(data)
    return orjson.loads(data)


def _native(native: bool) -> Any:
    """``data -> OTLP export or None``: the native OTLP/JSON decoder (``_otlp_fast.native_export``;
    None back when it does not read ``data``, which is then parsed as usual), or None without it."""
    if not native:
        return None
    from llmops_nb.loaders import _otlp_fast

    return None if _otlp_fast.NATIVE_JSON is None else lambda data: _otlp_fast.native_export(data, _loads)


def _stream_lines(path: str, native: bool = False) -> Iterator[tuple[Any, Any]]:
    any_line = False
    decode = _native(native)
    for lineno, line in enumerate(open_lines(path), start=1):
        if not line or line.isspace():
            continue
        any_line = True
        where = f"line {lineno}"
        try:
            rec = None if decode is None else decode(line)
            yield where, (rec if rec is not None else _loads(line) if _has_big_int(line) else orjson.loads(line))
        except RecursionError:
            yield where, LoadError("the line is nested too deeply to follow (RecursionError)", file=path, record=where,
                                   expected="JSON nested under 500 levels")
        except ValueError as e:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as u:
                yield where, LoadError(f"the line is not UTF-8 (byte {u.start}: {line[u.start:u.start + 1]!r})",
                                       file=path, record=where, expected="UTF-8 encoded JSON")
                continue
            yield where, LoadError(f"invalid JSON ({e})", file=path, record=where, expected="one JSON object per line")
    if not any_line:
        raise LoadError("the file is empty", file=path, expected="one JSON object per line")


def _json_lines(path: str, data: bytes, native: bool = False) -> Iterator[tuple[Any, Any]]:
    big = _has_big_int(data)  # one scan of the file, not one per line
    decode = _native(native)
    for lineno, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        rec = None if decode is None else decode(line)  # valid UTF-8 JSON when it reads it
        if rec is not None:
            yield where, rec
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield where, LoadError(f"the line is not UTF-8 (byte {e.start}: {line[e.start:e.start + 1]!r})",
                                   file=path, record=where, expected="UTF-8 encoded JSON")
            continue
        try:
            yield where, _loads(line) if big else orjson.loads(line)
        except RecursionError:
            yield where, LoadError("the line is nested too deeply to follow (RecursionError)", file=path, record=where,
                                   expected="JSON nested under 500 levels")
        except ValueError as e:
            yield where, LoadError(f"invalid JSON ({e})", file=path, record=where, expected="one JSON object per line")


def _records_of_file(path: str, fmt: Format | None, native: bool = False) -> Iterator[tuple[Any, Any]]:
    """Yield (record_ref, record) pairs from a file. ``native``: OTLP/JSON exports may be read by the
    native decoder (records that are mappings equal to the parsed document, see ``_otlp_fast.NativeExport``)."""
    if fmt is not None and fmt.read_file is not None and (fmt.sniff is None or _sniffs(fmt, path)):
        yield from enumerate(fmt.read_file(path))
        return
    name = path.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        df = pd.read_parquet(path)
        yield "table", df
        return
    if name.endswith((".csv", ".tsv")):
        df = pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
        yield "table", df
        return
    if name.endswith((".jsonl", ".ndjson")):  # streamed line by line: the file is never all in memory
        yield from _stream_lines(path, native)
        return
    data = _open_bytes(path)
    if not data.strip():
        raise LoadError("the file is empty", file=path, expected="JSON, JSONL, OTLP protobuf, CSV or Parquet")
    if name.endswith((".pb", ".bin", ".protobuf")):
        yield 0, data
        return
    is_lines = name.endswith((".jsonl", ".ndjson"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if is_lines:
            yield from _json_lines(path, data, native)
            return
        if name.endswith((".json", ".jsonl", ".ndjson")):
            raise LoadError(
                f"the file is not UTF-8 (byte {e.start}: {data[e.start:e.start + 1]!r})",
                file=path, expected="UTF-8 encoded JSON",
            ) from None
        yield 0, data  # binary: protobuf, detected by its format
        return
    stripped = data.lstrip()
    if is_lines or (not name.endswith(".json") and stripped[:1] == b"{" and b"\n{" in data.strip()):
        yield from _json_lines(path, data, native)
        return
    if name.endswith((".yaml", ".yml")):
        import yaml

        try:
            doc = yaml.safe_load(data)
        except yaml.YAMLError as e:
            raise LoadError(f"invalid YAML ({e})", file=path, expected="a YAML document") from None
        if doc is None:
            raise LoadError("the YAML file holds nothing (empty or null)", file=path, expected="a YAML document of traces")
        yield 0, doc
        return
    decode = _native(native)
    try:
        doc = decode(data) if decode is not None else None
        if doc is None:
            doc = _loads(data)
    except ValueError as e:
        values = _concatenated_json(data)
        if values is None:
            ext = Path(name).suffix or "no extension"
            if not name.endswith(_DATA_EXT):
                raise LoadError(f"not a trace file: its content is not JSON ({e}) and {ext!r} is none of the readable "
                                f"file types", file=path, expected=f"one of {', '.join(_DATA_EXT)}") from None
            raise LoadError(f"invalid JSON ({e})", file=path, expected="a JSON document") from None
        doc = values  # JSON values written back to back (stream events), read as a list
    yield "document", doc


def _concatenated_json(data: bytes) -> list[Any] | None:
    """JSON values written one after another with no separator (``{..}{..}``), or None."""
    import json

    text = data.decode("utf-8", errors="strict").strip()
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while i < len(text):
        try:
            v, j = dec.raw_decode(text, i)
        except ValueError:
            return None
        out.append(v)
        i = j
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
    return out if len(out) > 1 else None


def _sniffs(fmt: Format, path: str) -> bool:
    try:
        return bool(fmt.sniff(path))  # type: ignore[misc]
    except Exception:  # a sniffer must never break reading
        return False


def _detect(record: Any, where: str) -> Format:
    for fmt in detection_order():
        if fmt.detect is None:
            continue
        try:
            if fmt.detect(record):
                return fmt
        except Exception:  # a detector must never break detection
            continue
    shape = type(record).__name__
    if isinstance(record, Mapping):
        shape += f" with keys {sorted(record)[:12]}"
    raise _Unknown(
        f"could not tell the format of a {shape}",
        file=where,
        expected="one of the formats in llmops_nb.formats(); pass format=... or register a format",
    )


def _shape(rec: Any) -> str:
    """A short description of a parsed record, for error messages."""
    if isinstance(rec, pd.DataFrame):
        return f"a table with columns {list(map(str, rec.columns))[:8]}"
    if isinstance(rec, Mapping):
        return f"an object with keys {sorted(map(str, rec))[:8]}"
    if isinstance(rec, list):
        return f"a list of {len(rec)} items"
    return f"a {type(rec).__name__}"


def _iter_units(record: Any, fmt: Format) -> Iterator[tuple[Any, Any]]:
    """Split a parsed file into the records its format parses one at a time."""
    if isinstance(record, pd.DataFrame):
        if fmt.whole_file:
            yield "table", record
        else:
            for i, row in enumerate(record.to_dict("records")):
                yield f"row {i}", row
        return
    if isinstance(record, list) and not fmt.whole_file:
        for i, r in enumerate(record):
            yield f"item {i}", r
        return
    yield None, record


def read_traces(
    source: Any,
    *,
    format: str | None = None,
    errors: Literal["raise", "skip"] = "raise",
    max_decompressed_bytes: int | None | Literal["default"] = "default",
    estimate_cost: bool = True,
    workers: int | None = None,
    engine: str | Engine | None = None,
    to_parquet: str | os.PathLike[str] | None = None,
    **options: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, LoadReport]:
    """Load traces from files or records into the spans table (one row per span).

    ``source``: a path, a directory (read recursively), a glob, a list of paths, a DataFrame,
    a ``datasets.Dataset`` or an iterable of dicts; paths may be object-store URLs read through
    fsspec (``"s3://bucket/traces/"``: every trace file under the prefix; a key; a glob), each
    object copied to a temporary file and named by its URL in errors. ``format``: a name from
    :func:`llmops_nb.formats`, detected from content when omitted. ``options`` go to the
    format (for example ``mapping=`` for ``records``).

    ``errors="raise"`` (default) raises :class:`LoadError` naming the file, the record and
    what was expected. ``errors="skip"`` returns ``(spans, report)``: every record that could
    be loaded, and a :class:`LoadReport` of what was skipped or repaired (one bad span skips
    that span, never its whole file).

    ``max_decompressed_bytes``: the most a compressed file may inflate to (default 1 GiB, see
    :func:`llmops_nb.loaders.decompressed_limit`; ``None``: no limit). Bombs, truncated
    ``.gz`` files and nesting too deep to follow are each a :class:`LoadError` naming the file.

    ``estimate_cost`` (default True): spans with a model and tokens but no cost get
    ``cost_usd`` from litellm's price map, flagged ``metadata["cost_estimated"] = True``
    (:data:`llmops_nb.schema.COST_ESTIMATED_KEY`); a source's own cost is never replaced.

    ``workers``: processes reading several files at once (default None: one per core when the
    files add up to :data:`PARALLEL_MIN_BYTES` or more, else this process; ``1``: this process).
    The frame and the report are the same as one worker's: files are read in contiguous chunks
    and put back in order before ids, trees and log records are checked across files.

    ``engine``: ``"local"`` or ``"ray"`` (default: :func:`llmops_nb.engines.current_engine`). On
    Ray, files (paths, directories, globs) are read in contiguous chunks on Ray tasks and put
    back in order, then checked across files here: the same frame and report as one process;
    an error names its file, as here. Records and frames are read in this process.

    ``to_parquet`` (with ``engine="ray"``): a folder where each Ray task writes the spans of its
    files as one Parquet file (``part-00000.parquet``, ..., the store's column types), instead of
    sending them back: returns a ``ray.data.Dataset`` over them (with the report for
    ``errors="skip"``), for more spans than one machine's memory holds. The checks across files
    (duplicate spans, log records of a span read elsewhere, parent cycles) then run within each
    task's files, not across all of them.

    A file named directly that yields no spans is a :class:`LoadError` saying what was found;
    files found by walking a directory that hold no traces are skipped.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t1", "span_id": "s1", "kind": "llm",
        ...     "model": "gpt-4o-mini"}], format="records")
        >>> spans[["trace_id", "kind", "model", "source_format"]].values.tolist()
        [['t1', 'llm', 'gpt-4o-mini', 'records']]
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors={errors!r}; valid: 'raise', 'skip'")
    import gc

    # Loading builds millions of small containers that are never cyclic garbage: the cyclic
    # collector would walk them again and again (quadratic on large files). Pause it meanwhile.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        eng = resolve_engine(engine)
        if to_parquet is not None:
            return _read_to_parquet(source, format, errors, options, estimate_cost, max_decompressed_bytes, eng,
                                    to_parquet)
        if max_decompressed_bytes == "default":
            return _read_traces(source, format, errors, options, estimate_cost, workers, engine=eng)
        with decompressed_limit(max_decompressed_bytes):  # type: ignore[arg-type]
            return _read_traces(source, format, errors, options, estimate_cost, workers, max_decompressed_bytes,
                                engine=eng)
    finally:
        if was_enabled:
            gc.enable()


def _read_traces(source: Any, format: str | None, errors: str, options: dict[str, Any], estimate_cost: bool = True,
                 workers: int | None = 1, limit: Any = "default", engine: Engine | None = None) -> Any:
    items = _expand(source)
    n_workers = _n_workers(items, workers)
    on_ray = engine is not None and engine.is_ray and bool(items) and all(isinstance(i, (str, os.PathLike)) for i in items)
    if on_ray:
        acc, problems, ignored = _read_on_ray(engine, items, format, errors, options, limit)  # type: ignore[arg-type]
    elif n_workers > 1:
        acc, problems, ignored = _read_parallel(items, format, errors, options, n_workers, limit)
    else:
        acc, problems, ignored = _read_items(items, format, errors, options)
    df = _finish(acc, errors, problems)
    if estimate_cost:
        from llmops_nb.loaders._cost import estimate_costs

        df = estimate_costs(df)
    if errors == "skip":
        return df, LoadReport(pd.DataFrame(problems, columns=["file", "record", "error", "action"]))
    return df


PARALLEL_MIN_BYTES = 32 * 2**20
"""With the default ``workers=None``, files are read on several processes only when they add up to
at least this many bytes (starting a process costs more than reading a few small files)."""


def _n_workers(items: list[Any], workers: int | None) -> int:
    """How many processes read ``items``: 1 unless there are several files (records and frames are
    read in this process)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r}; valid: None (one per core) or a whole number >= 1")
    files = [i for i in items if isinstance(i, (str, os.PathLike))]
    if len(files) < 2 or len(files) != len(items) or workers == 1:
        return 1
    if workers is None:
        total = sum((f.size or 0) if isinstance(f, _Remote) else os.path.getsize(f) if os.path.isfile(f) else 0
                    for f in files)  # objects: their size as listed
        if total < PARALLEL_MIN_BYTES:
            return 1
        workers = os.cpu_count() or 1
    return max(1, min(workers, len(files)))


def _read_chunk(items: list[Any], format: str | None, errors: str, options: dict[str, Any], limit: Any) -> Any:
    """A worker process: the columns, problems and ignored files of ``items`` (read as one worker would)."""
    import gc

    gc.disable()
    if limit == "default":
        return _read_items(items, format, errors, options)
    with decompressed_limit(limit):
        return _read_items(items, format, errors, options)


def _read_parallel(items: list[Any], format: str | None, errors: str, options: dict[str, Any], n_workers: int,
                   limit: Any) -> tuple[_Columns, list[dict[str, Any]], list[str]]:
    """Read files on ``n_workers`` processes, in contiguous chunks concatenated in file order: the
    columns and problems are those one worker gives (so is the frame :func:`_finish` builds); an
    error raised under ``errors="raise"`` is the first one in file order, as with one worker."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    n_chunks = min(len(items), 4 * n_workers)  # several chunks per worker: a big file does not hold the rest
    bounds = [round(i * len(items) / n_chunks) for i in range(n_chunks + 1)]
    chunks = [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    method = "fork" if sys.platform == "linux" and "fork" in mp.get_all_start_methods() else "spawn"
    acc = _Columns()
    problems: list[dict[str, Any]] = []
    ignored: list[str] = []
    with ProcessPoolExecutor(n_workers, mp_context=mp.get_context(method)) as pool:
        futures = [pool.submit(_read_chunk, c, format, errors, options, limit) for c in chunks]
        try:
            for fut in futures:
                part, part_problems, part_ignored = fut.result()
                acc.merge(part)
                problems.extend(part_problems)
                ignored.extend(part_ignored)
        finally:
            for fut in futures:
                fut.cancel()
    return acc, problems, ignored


def _read_chunk_ray(items: list[Any], format: str | None, errors: str, options: dict[str, Any], limit: Any,
                    cwd: str) -> Any:
    """A Ray task: :func:`_read_chunk` in the driver's working directory (relative paths read, and
    are named, as the caller gave them), leaving the long-lived worker's directory and garbage
    collector as they were."""
    import gc

    was = gc.isenabled()
    here = os.getcwd()
    try:
        if os.path.isdir(cwd):
            os.chdir(cwd)
        return _read_chunk(items, format, errors, options, limit)
    finally:
        os.chdir(here)
        if was:
            gc.enable()


def _read_on_ray(eng: Engine, items: list[Any], format: str | None, errors: str, options: dict[str, Any],
                 limit: Any) -> tuple[_Columns, list[dict[str, Any]], list[str]]:
    """Files read in contiguous chunks on Ray tasks, concatenated in file order (as one worker)."""
    from llmops_nb.engines import run_tasks, tasks_for

    n_chunks = tasks_for(eng, len(items))
    bounds = [round(i * len(items) / n_chunks) for i in range(n_chunks + 1)]
    chunks = [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    labels = [f"file {c[0]}" if len(c) == 1 else f"files {c[0]} ... {c[-1]} ({len(c)} files)" for c in chunks]
    cwd = os.getcwd()
    parts = run_tasks(eng, _read_chunk_ray, [(c, format, errors, options, limit, cwd) for c in chunks], labels=labels,
                      weights=[len(c) for c in chunks], desc="read_traces", passthrough=(LoadError,))
    acc = _Columns()
    problems: list[dict[str, Any]] = []
    ignored: list[str] = []
    for part, part_problems, part_ignored in parts:
        acc.merge(part)
        problems.extend(part_problems)
        ignored.extend(part_ignored)
    return acc, problems, ignored


def _chunk_to_parquet(items: list[Any], format: str | None, errors: str, options: dict[str, Any], limit: Any,
                     cwd: str, estimate_cost: bool, path: str) -> tuple[str, int, list[dict[str, Any]]]:
    """A Ray task: read ``items`` as one process would, check them, write their spans to ``path``."""
    import pyarrow.parquet as pq

    from llmops_nb.schema import to_arrow

    acc, problems, _ignored = _read_chunk_ray(items, format, errors, options, limit, cwd)
    df = _finish(acc, errors, problems)
    if estimate_cost:
        from llmops_nb.loaders._cost import estimate_costs

        df = estimate_costs(df)
    tmp = f"{path}.tmp-{os.getpid()}"
    pq.write_table(to_arrow(df, SPANS), tmp, compression="zstd")
    os.replace(tmp, path)  # a retried task replaces its part whole
    return path, len(df), problems


def _read_to_parquet(source: Any, format: str | None, errors: str, options: dict[str, Any], estimate_cost: bool,
                     limit: Any, eng: Engine, folder: Any) -> Any:
    from llmops_nb.engines import run_tasks, tasks_for

    items = _expand(source)
    if not eng.is_ray or not items or not all(isinstance(i, (str, os.PathLike)) for i in items):
        raise ValueError("to_parquet= writes the spans of files from Ray tasks: pass files, a folder or a glob, "
                         "with engine='ray' (or lo.engine('ray') first); in this process, read the frame and "
                         "store.add_spans(spans) or spans.to_parquet(...)")
    out = Path(folder).absolute()
    out.mkdir(parents=True, exist_ok=True)
    old = sorted(out.glob("part-*.parquet"))
    if old:
        raise ValueError(f"to_parquet={str(folder)!r} already holds {len(old)} part files ({old[0].name}, ...): "
                         "give an empty folder, or remove them first")
    n_chunks = tasks_for(eng, len(items))
    bounds = [round(i * len(items) / n_chunks) for i in range(n_chunks + 1)]
    chunks = [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    cwd = os.getcwd()
    calls = [(c, format, errors, options, limit, cwd, estimate_cost, str(out / f"part-{i:05d}.parquet"))
             for i, c in enumerate(chunks)]
    labels = [f"file {c[0]}" if len(c) == 1 else f"files {c[0]} ... {c[-1]} ({len(c)} files)" for c in chunks]
    parts = run_tasks(eng, _chunk_to_parquet, calls, labels=labels, weights=[len(c) for c in chunks],
                      desc="read_traces", passthrough=(LoadError,))
    import ray

    ds = ray.data.read_parquet([p for p, _n, _ in parts])
    if errors == "skip":
        problems = [row for _p, _n, probs in parts for row in probs]
        return ds, LoadReport(pd.DataFrame(problems, columns=["file", "record", "error", "action"]))
    return ds


def _read_items(items: list[Any], format: str | None, errors: str, options: dict[str, Any]) -> tuple[_Columns, list[dict[str, Any]], list[str]]:
    if not any(isinstance(i, _Remote) for i in items):
        return _read_items_in(items, format, errors, options, "")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="llmops-nb-read-") as tmp:  # one object copied there at a time
        return _read_items_in(items, format, errors, options, tmp)


def _read_items_in(items: list[Any], format: str | None, errors: str, options: dict[str, Any],
                   tmp: str) -> tuple[_Columns, list[dict[str, Any]], list[str]]:
    fixed = get_format(format) if format else None
    problems: list[dict[str, Any]] = []
    acc = _Columns()
    ignored: list[str] = []

    def fail(err: BaseException, file: str, record: Any) -> None:
        if not isinstance(err, LoadError):
            err = _as_load_error(err, file, record)
        elif err.file is None:
            err = LoadError(err.reason, file=file, record=err.record if err.record is not None else record,
                            expected=err.expected)
        named = _renamed(err, path, file)
        assert isinstance(named, LoadError)
        err = named
        if errors == "raise":
            raise err
        problems.append({"file": err.file or file, "record": None if err.record is None else str(err.record),
                         "error": str(err), "action": "skipped"})

    def skip_one(err: LoadError) -> None:  # a record inside a unit (a span of a document), skipped alone
        problems.append({"file": err.file, "record": None if err.record is None else str(err.record),
                         "error": str(err), "action": "skipped"})

    path = file = ""
    for item in items:
        if path and path != file:
            os.unlink(path)  # the local copy of the previous object
        file = str(item) if isinstance(item, (str, os.PathLike)) else "<records>"
        path = file  # where the file is read: a local copy for an object-store URL
        rows_before, problems_before = acc.n, len(problems)
        found: list[str] = []
        try:
            if isinstance(item, (str, os.PathLike)):
                if isinstance(item, _Remote):
                    path = _fetch(file, tmp)
                fmt_for_file = fixed
                if fmt_for_file is None:
                    # formats with their own reader claim files by extension
                    for f in detection_order():
                        if f.read_file is not None and f.extensions and file.lower().removesuffix(".gz").endswith(f.extensions):
                            if f.sniff is not None and not _sniffs(f, path):
                                continue
                            fmt_for_file = f
                            break
                parsed = _records_of_file(path, fmt_for_file, native=fmt_for_file is None or fmt_for_file.name == "otlp_json")
            elif isinstance(item, pd.DataFrame):
                parsed = iter([("table", item)])
            else:
                parsed = iter([(None, list(item))])
            for ref, rec in parsed:
                if isinstance(rec, Exception):
                    fail(rec, file, ref)
                    continue
                fmt = fixed
                if fmt is None:
                    probe = rec
                    if isinstance(rec, pd.DataFrame):
                        probe = rec
                    elif isinstance(rec, list) and rec:
                        # a list is either one whole-file record or a list of records
                        try:
                            fmt = _detect(rec, file)
                        except LoadError:
                            probe = rec[0]
                    elif isinstance(rec, list):
                        continue
                    if fmt is None:
                        fmt = _detect(probe, file)
                found.append(f"{_shape(rec)} read as {fmt.name}")
                ctx = {"file": file, "options": options, "skip": skip_one if errors == "skip" else None, "times_us": True}
                for sub_ref, unit in _iter_units(rec, fmt):
                    where = sub_ref if ref in (None, "document") else (ref if sub_ref is None else f"{ref} {sub_ref}")
                    try:
                        res = fmt.parse(unit, {**ctx, "record": where, "problem": _reporter(errors, problems, file, where)})
                        out = res if isinstance(res, SpanColumns) else list(res)
                    except NoTraceData as e:
                        if e.file is None:
                            e = NoTraceData(e.reason, file=file, record=where, expected=e.expected)
                        raise e from None
                    except Exception as e:
                        if errors == "skip" and isinstance(unit, list) and len(unit) > 1:
                            # a format that takes a whole list failed on it: keep the items it can
                            # read one by one, skip the others (one bad record never drops the file)
                            _each_item(fmt, unit, where, file, acc, fail,
                                       lambda r, c=ctx, f=file: {**c, "record": r, "problem": _reporter(errors, problems, f, r)})
                            continue
                        fail(e, file, where)
                        continue
                    if out:
                        acc.extend(out, fmt.name, file, where)
        except (_Unknown, NoTraceData) as e:
            named = _renamed(e, path, file)
            assert isinstance(named, LoadError)
            if isinstance(item, _InDir):
                ignored.append(file)
                if errors == "skip":
                    problems.append({"file": file, "record": None, "error": str(named), "action": "ignored: not a trace file"})
                continue
            if errors == "raise":
                raise named from e.__cause__
            problems.append({"file": named.file or file, "record": named.record, "error": str(named), "action": "skipped"})
        except LoadError as e:
            named = _renamed(e, path, file)
            assert isinstance(named, LoadError)
            if errors == "raise":
                raise named from e.__cause__
            problems.append({"file": named.file or file, "record": named.record, "error": str(named), "action": "skipped"})
        except (OSError, UnicodeDecodeError, EOFError, RecursionError, MemoryError, zlib.error) as e:
            fail(e, file, None)
            continue
        if (isinstance(item, (str, os.PathLike)) and not isinstance(item, _InDir) and acc.n == rows_before
                and len(problems) == problems_before):
            # a file named directly must give spans or say why not: never a silent empty frame
            what = "; ".join(dict.fromkeys(found)) or "no records"
            err = LoadError(f"no spans found in the file ({what})", file=file,
                            expected="a trace file in one of the formats of llmops_nb.formats()")
            if errors == "raise":
                raise err
            problems.append({"file": file, "record": None, "error": str(err), "action": "no spans"})
    return acc, problems, ignored


def _each_item(fmt: Format, unit: list[Any], where: Any, file: str, acc: _Columns, fail: Any,
               ctx_of: Any) -> None:
    """Parse the items of a list unit one at a time (each as a one-item list), skipping those that fail."""
    for j, item in enumerate(unit):
        ref = f"item {j}" if where is None else f"{where} item {j}"
        try:
            out = list(fmt.parse([item], ctx_of(ref)))
        except Exception as e:  # noqa: BLE001 - reported per item
            fail(e, file, ref)
            continue
        if out:
            acc.extend(out, fmt.name, file, ref)


_OPENERS = ("[", "{")


def _container_text(v: str) -> str | None:
    """``"list"``/``"dict"`` when ``v`` is the text of a list or an object (``"[1, 2, 3]"``,
    ``"{'id': 7}"``), as ``str()`` of a wrong-typed id gives; else None."""
    s = v.strip()
    if len(s) < 2 or (s[0], s[-1]) not in (("[", "]"), ("{", "}")):
        return None
    import ast

    try:
        x = ast.literal_eval(s)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        try:
            x = orjson.loads(s)
        except orjson.JSONDecodeError:
            return None
    return type(x).__name__ if isinstance(x, (list, dict, set, tuple)) else None


def _as_load_error(err: BaseException, file: str, record: Any) -> LoadError:
    """Any failure while reading a file as a LoadError naming the file (and record)."""
    if isinstance(err, RecursionError):
        return LoadError("the data is nested too deeply to follow (RecursionError)", file=file, record=record,
                         expected=f"nesting under {sys.getrecursionlimit() // 2} levels")
    if isinstance(err, MemoryError):
        return LoadError("reading it ran out of memory (MemoryError)", file=file, record=record,
                         expected="a file that fits in memory; split it, or stream it as JSONL")
    if isinstance(err, (EOFError, zlib.error)):
        return LoadError(f"the compressed file is truncated or corrupt ({type(err).__name__}: {err})", file=file,
                         record=record, expected="a complete gzip file")
    return LoadError(f"{type(err).__name__}: {err}", file=file, record=record)


def _reporter(errors: str, problems: list[dict[str, Any]], file: str, record: Any) -> Any:
    """``ctx["problem"](where, message, action)`` for loaders that validate and repair within a
    record (OTel ids): raises with ``errors="raise"``, else reports what was repaired."""

    def problem(where: str, message: str, action: str) -> None:
        rec = where if record is None else f"{record} {where}"
        if errors == "raise":
            raise LoadError(message, file=file, record=rec, expected="valid OpenTelemetry ids: 32 hex digits for a trace, "
                            "16 for a span, not all zeros; pass errors='skip' to repair and load the rest")
        problems.append({"file": file, "record": rec, "error": message, "action": action})

    return problem


def _joined(pieces: list[list[Any]]) -> list[Any]:
    """The lists in ``pieces`` as one list allocated at its final size (the native ``concat``)."""
    concat = _native_helper("concat")
    return concat(pieces) if concat is not None else list(chain.from_iterable(pieces))


class _Pieces:
    """A column of ``n`` rows held as consecutive lists (see :meth:`_Columns.frame_columns`)."""

    __slots__ = ("pieces", "n")

    def __init__(self, pieces: list[list[Any]], n: int) -> None:
        self.pieces, self.n = pieces, n

    def __len__(self) -> int:
        return self.n

    def join(self) -> list[Any]:
        return _joined(self.pieces)

    def all_text(self) -> bool:
        return all(_only_text(p) for p in self.pieces)

    def objects(self) -> pd.Series:
        """The column as an object Series, each value one cell; the pieces are emptied (their
        references moved into the array by the native ``move_into``, without touching the values)."""
        import numpy as np

        move_into = _native_helper("move_into")
        if move_into is not None:
            arr = np.empty(self.n, dtype=object)
            assert arr.flags.c_contiguous and arr.dtype == object
            pieces, self.pieces = self.pieces, []
            move_into(pieces, arr.__array_interface__["data"][0], self.n)
            return pd.Series(arr, dtype=object, copy=False)
        return _object_series(chain.from_iterable(self.pieces), self.n)


class _Columns:
    """Loader rows accumulated column by column: each unit's row dicts are dropped as soon as
    their values are in the columns, so memory holds the columns, not a million dicts.

    A mapping's columns (:class:`SpanColumns`) are kept as they come and joined when ``cols`` is
    first read, each column in one list of its final size (``list.extend`` would grow it by an
    eighth at a time, copying it each time it moves)."""

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {n: [] for n in SPANS.names}
        self._parts: list[dict[str, list[Any]]] = []  # SpanColumns' columns not joined into _cols yet
        self.starts: list[int] = []
        self.units: list[tuple[str, Any]] = []
        self.n = 0
        self.canonical = True  # messages and documents already in their canonical shape (SpanColumns.canonical)
        self.times_us = True  # start_time/end_time hold whole microseconds since 1970 (SpanColumns.times_us), not datetimes

    @property
    def cols(self) -> dict[str, list[Any]]:
        """Every row so far, column by column."""
        if self._parts:
            for name in self._cols:
                self._join(name)
            self._parts = []
        return self._cols

    @cols.setter
    def cols(self, value: dict[str, list[Any]]) -> None:
        self._parts = []
        self._cols = value

    def column(self, name: str) -> list[Any]:
        """One column of every row so far (joined; the other columns stay as received)."""
        if self._parts:
            self._join(name)
        return self._cols[name]

    def _pieces(self, name: str) -> list[list[Any]]:
        """The column's rows held so far and the pieces received after, taken out of the parts: for
        each column, ``_cols[name]`` holds the rows up to the parts that still have ``name``."""
        return [self._cols[name], *(p.pop(name) for p in self._parts if name in p)]

    def _join(self, name: str) -> None:
        pieces = self._pieces(name)  # released once joined
        if len(pieces) > 1:
            self._cols[name] = _joined(pieces)

    def frame_columns(self) -> dict[str, list[Any] | _Pieces]:
        """Every column for :func:`_build_frame`, the ones never joined as their pieces (built into
        their arrays straight from them, with no list of every row in between); empties ``self``."""
        out: dict[str, list[Any] | _Pieces] = {}
        for name in list(self._cols):
            pieces = self._pieces(name)
            out[name] = pieces[0] if len(pieces) == 1 else _Pieces(pieces, self.n)
        self._parts = []
        self._cols = {name: [] for name in self._cols}
        return out

    def __getstate__(self) -> dict[str, Any]:  # sent to another process joined
        self.cols  # noqa: B018 - joins the parts
        return self.__dict__

    def extend(self, out: list[dict[str, Any]] | SpanColumns, fmt_name: str, file: str, where: Any) -> None:
        if isinstance(out, SpanColumns):  # a loader's rows already column by column
            self.canonical = self.canonical and out.canonical
            if not out.times_us:
                self._times_as_datetimes()
            self.starts.append(self.n)
            self.units.append((file, where))
            part = dict(out.columns) if self.times_us else {name: out._datetimes(name) for name in self._cols}
            sf = part["source_format"]
            if None in sf:
                part["source_format"] = [fmt_name if f is None else f for f in sf]
            self._parts.append(part)
            self.n += out.n
            return
        self.canonical = False
        self._times_as_datetimes()
        keys = set().union(*out)
        extra = keys - _COLS.keys()
        if extra:
            raise LoadError(f"the {fmt_name} loader produced fields {sorted(extra)} that the spans table does not have",
                            expected=f"only spans columns: {SPANS.names}")
        self.starts.append(self.n)
        self.units.append((file, where))
        m = len(out)
        cols = self.cols
        for name, lst in cols.items():
            if name in keys:
                lst.extend([r.get(name) for r in out])
            else:
                lst.extend([None] * m)
        sf = cols["source_format"]
        for i in range(self.n, self.n + m):
            if sf[i] is None:
                sf[i] = fmt_name
        self.n += m

    def merge(self, other: _Columns) -> None:
        """Append another reader's columns (rows, units and their positions), as if read here."""
        if self.times_us != other.times_us:
            self._times_as_datetimes()
            other._times_as_datetimes()
        self._parts.append(dict(other.cols))
        self.canonical = self.canonical and other.canonical
        self.starts.extend(s + self.n for s in other.starts)
        self.units.extend(other.units)
        self.n += other.n

    def _times_as_datetimes(self) -> None:
        """From now on times are ``datetime`` objects (rows from other loaders come): convert those held."""
        if self.times_us:
            cols = self.cols
            self.times_us = False
            epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
            for c in ("start_time", "end_time"):
                cols[c] = [None if x is None else epoch + timedelta(microseconds=x) for x in cols[c]]

    def where(self, i: int) -> tuple[str, Any]:
        import bisect

        return self.units[bisect.bisect_right(self.starts, i) - 1]

    def row(self, i: int) -> dict[str, Any]:
        return {n: c[i] for n, c in self.cols.items()}


_KIND_SET = frozenset(SPAN_KINDS)
_STATUS_SET = frozenset(SPAN_STATUSES)


def _finish(acc: _Columns, errors: str, problems: list[dict[str, Any]]) -> pd.DataFrame:
    """Validate ids, kinds and the span tree; fill derived fields; build the frame."""
    n = acc.n
    if n == 0:
        return empty_frame(SPANS)
    tids, sids = acc.column("trace_id"), acc.column("span_id")
    keep = [True] * n

    def problem(i: int, msg: str, expected: str, action: str) -> None:
        file, where = acc.where(i)
        err = LoadError(msg, file=file, record=where, expected=expected)
        if errors == "raise":
            raise err
        problems.append({"file": file, "record": where, "error": str(err), "action": action})

    # ids plain text, (trace_id, span_id) keys unique, no cycle in the parent links: one O(n) pass in C
    # (the native module's span_tree; None: clean) leaves the id, duplicate and cycle checks below nothing to do
    span_tree = _native_helper("span_tree")
    clean = span_tree is not None and span_tree(tids, sids, acc.column("parent_span_id")) is None
    for name in ("trace_id", "span_id", "parent_span_id") if not clean else ():  # a loader passing an id through as it came
        col = acc.column(name)
        if _only_text(col) and _OPENER_SET.isdisjoint(map(_FIRST, filter(None, col))):
            continue
        for i, v in enumerate(col):
            if v is None:
                continue
            if type(v) is str:
                bad = _container_text(v)  # a list or an object turned into text by str()
                if bad is not None and keep[i]:
                    keep[i] = False
                    problem(i, f"{name} is the text of a {bad} ({v[:57] + '...' if len(v) > 60 else v})",
                            "ids as text (hex, UUID, any string) or whole numbers, not lists or objects", "skipped")
                continue
            if isinstance(v, int) and not isinstance(v, bool):
                col[i] = str(v)
                continue
            if hasattr(v, "__index__") and not isinstance(v, bool) and not hasattr(v, "__len__"):  # numpy integers
                col[i] = str(v.__index__())
                continue
            shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
            if keep[i]:
                keep[i] = False
                problem(i, f"{name} is a {type(v).__name__} ({shown})", "ids as text or whole numbers", "skipped")
    all_ids = clean or all(keep) and _only_text(tids) and _only_text(sids) and all(tids) and all(sids)
    for i in range(n) if not all_ids else ():
        if not keep[i]:
            continue
        if not tids[i] or not sids[i]:
            missing = [k for k, v in (("trace_id", tids[i]), ("span_id", sids[i])) if not v]
            problem(i, f"missing {' and '.join(missing)}", "every span to have a trace_id and a span_id", "skipped")
            keep[i] = False
    _merge_log_rows(acc, keep, problem)
    kinds, statuses = acc.column("kind"), acc.column("status")
    if not _KIND_SET.issuperset(kinds):
        acc.cols["kind"] = [k if k in _KIND_SET else "unknown" for k in kinds]
    if not _STATUS_SET.issuperset(statuses):
        acc.cols["status"] = [st if st in _STATUS_SET else "unset" for st in statuses]
    if not (clean and all(keep)):  # else no partial row was folded in either: every row is kept as it is
        _drop_repeats(acc, keep, problem, errors, problems)
    if not all(keep):
        from itertools import compress

        acc.cols = {name: list(compress(c, keep)) for name, c in acc.cols.items()}
    if not acc.column("trace_id"):
        return empty_frame(SPANS)
    return _build_frame(acc.frame_columns(), nested_ok=acc.canonical, times_us=acc.times_us)


def _drop_repeats(acc: _Columns, keep: list[bool], problem: Any, errors: str, problems: list[dict[str, Any]]) -> None:
    """Of rows with the same (trace_id, span_id): drop the later copies that are identical, keep the later
    of different ones (reported); then cut one parent link of each cycle among the kept spans."""
    tids, sids, n = acc.cols["trace_id"], acc.cols["span_id"], acc.n
    seen: dict[tuple[Any, Any], int] = {}
    if all(keep):  # every row kept so far: one pass in C finds whether any key repeats
        seen = dict(zip(zip(tids, sids), range(n)))
        if len(seen) < n:
            seen = {}
    for i, key in enumerate(zip(tids, sids)) if not seen else ():
        if not keep[i]:
            continue
        j = seen.get(key)
        if j is None:
            seen[key] = i
            continue
        if acc.row(j) == acc.row(i):
            keep[i] = False
            continue
        problem(i, f"duplicate span id {key[1]!r} in trace {key[0]!r} with different content",
                "span ids unique within a trace", "kept the later record")
        keep[j] = False
        seen[key] = i
    _break_cycles(acc, seen, errors, problems)


_COLS = {c.name: c for c in SPANS.columns}
_LOG_FILL = ("input_messages", "output_messages", "input_text", "output_text")


def _merge_log_rows(acc: _Columns, keep: list[bool], problem: Any) -> None:
    """Fold partial rows into the span they complete, read from another record or file: the
    OTLP log records of a span (GenAI message events), a LangSmith patch whose post came in an
    earlier batch."""
    from llmops_nb.loaders.langsmith import PATCH_ROWS, merge_patch
    from llmops_nb.loaders.otlp import LOG_ROWS

    sf = acc.column("source_format")
    if LOG_ROWS not in sf and PATCH_ROWS not in sf:  # (two scans in C; most loads have no partial rows)
        return
    cols = acc.cols
    partial = [i for i, f in enumerate(sf) if f in (LOG_ROWS, PATCH_ROWS)]
    if not partial:
        return
    spans = {(cols["trace_id"][i], cols["span_id"][i]): i for i in range(acc.n) if sf[i] not in (LOG_ROWS, PATCH_ROWS) and keep[i]}
    for i in partial:
        keep[i] = False
        j = spans.get((cols["trace_id"][i], cols["span_id"][i]))
        if j is None:
            what = "log records" if sf[i] == LOG_ROWS else "a LangSmith patch"
            problem(i, f"{what} of span {cols['span_id'][i]!r} in trace {cols['trace_id'][i]!r} found no span among the records read",
                    "the file that holds the span itself to be read too", "skipped")
            continue
        if sf[i] == PATCH_ROWS:
            for c, v in merge_patch(acc.row(j), cols["attributes"][i]["langsmith.patch"]).items():
                cols[c][j] = v
            continue
        for c in _LOG_FILL:
            if cols[c][j] is None and cols[c][i] is not None:
                cols[c][j] = cols[c][i]
        extra = cols["attributes"][i] or {}
        if extra:
            cols["attributes"][j] = {**(cols["attributes"][j] or {}), **extra}


def _nested_value(kind: str, v: Any) -> Any:
    """A messages / documents / strings value in its canonical shape (exactly the struct keys)."""
    if v is None:
        return None
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if not isinstance(v, (list, tuple)):
        if kind == "strings":
            return [str(v)]
        raise TypeError(f"a {kind} value is a {type(v).__name__}, not a list")
    if kind == "strings":
        return [None if x is None else str(x) for x in v]
    if kind == "documents":
        return [{"id": d.get("id"), "content": d.get("content"), "score": d.get("score"), "metadata": d.get("metadata")}
                for d in v]
    out = []
    for m in v:
        calls = m.get("tool_calls")
        if calls is not None:
            if hasattr(calls, "tolist"):
                calls = calls.tolist()
            calls = [{"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")} for c in calls] or None
        out.append({"role": m.get("role"), "content": m.get("content"), "tool_calls": calls, "tool_call_id": m.get("tool_call_id")})
    return out


def _only_text(vals: list[Any]) -> bool:
    """Whether every value is a str or None (one pass in C; in the native loaders module's
    ``only_text`` when it is built, without a ``type()`` call per value)."""
    native = _native_helper("only_text")
    if native is not None and type(vals) is list:
        return native(vals)  # type: ignore[no-any-return]
    return _TEXT_TYPES.issuperset(map(type, vals))


_TEXT_TYPES = frozenset((str, type(None)))
_INT_TYPES = frozenset((int, type(None)))
_NUMBER_TYPES = frozenset((int, float, type(None)))


def _int_array(vals: list[Any]) -> Any:
    """``pd.array(vals, dtype="Int64")``, built in numpy when every value is an int or None."""
    import numpy as np

    native = _native_helper("int_column")
    got = native(vals) if native is not None and type(vals) is list else None
    if got is not None:  # exact ints and None, in 64 bits: what the branch below builds
        return pd.arrays.IntegerArray(np.frombuffer(got[0], dtype=np.int64), np.frombuffer(got[1], dtype=bool))
    if _INT_TYPES.issuperset(map(type, vals)):
        try:
            if None not in vals:
                return pd.arrays.IntegerArray(np.array(vals, dtype=np.int64), np.zeros(len(vals), dtype=bool))
            mask = np.fromiter((v is None for v in vals), dtype=bool, count=len(vals))
            return pd.arrays.IntegerArray(np.array([0 if v is None else v for v in vals], dtype=np.int64), mask)
        except OverflowError:  # beyond 64 bits: pandas' own conversion (and its error)
            pass
    return pd.array(vals, dtype="Int64")
_OPENER_SET = frozenset(_OPENERS)
_FIRST = operator.itemgetter(0)


def _object_series(vals: Iterable[Any], n: int | None = None) -> pd.Series:
    """``pd.Series(vals, dtype=object)``, each value one cell (lists and dicts too), without the
    copy pandas makes of a list (numpy's ``fromiter`` fills the array in one pass); ``n``: how many
    values an iterator gives."""
    import numpy as np

    count = len(vals) if n is None else n  # type: ignore[arg-type]
    return pd.Series(np.fromiter(vals, dtype=object, count=count), dtype=object, copy=False)


def _build_frame(cols: dict[str, Any], nested_ok: bool = False, times_us: bool = False) -> pd.DataFrame:
    """The spans frame straight from loader rows, column by column (no Arrow round trip):
    the same columns and dtypes as :func:`llmops_nb.schema.conform` gives. ``nested_ok``: the
    messages and documents are already in their canonical shape (as the column-wise OTLP mapping
    builds them), so they are kept as they are; ``times_us``: times are whole microseconds since 1970."""
    import numpy as np

    n = len(cols["trace_id"])
    ids = cols["span_id"]  # for error messages (the list itself: it is not changed below)
    out: dict[str, Any] = {}
    us: dict[str, Any] = {}  # the time columns as int64 microseconds (NaT as int64 min), when times_us
    nat = np.iinfo(np.int64).min
    for name, col in _COLS.items():
        vals = cols.pop(name)  # each column list is released once converted: peak stays near the frame
        if type(vals) is _Pieces:  # a column never joined: object columns straight from its pieces
            if (col.kind == "json" or (nested_ok and col.kind in ("messages", "documents"))
                    or (col.kind == "str" and vals.all_text())):
                out[name] = vals.objects()
                continue
            vals = vals.join()
        try:
            if col.kind == "str":
                if not _only_text(vals):
                    vals = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in vals]
                out[name] = _object_series(vals)
            elif col.kind == "int":
                out[name] = pd.Series(_int_array(vals))
            elif col.kind == "float":
                if vals.count(None) == n:  # a column no span has (one pass in C)
                    out[name] = np.full(n, np.nan)
                elif _NUMBER_TYPES.issuperset(map(type, vals)):  # numpy reads None as NaN and ints as float() does
                    out[name] = np.array(vals, dtype="float64")
                else:
                    out[name] = np.array([np.nan if v is None else float(v) for v in vals], dtype="float64")
            elif col.kind == "time" and times_us:
                arr = us[name] = np.array(vals if None not in vals else [nat if v is None else v for v in vals], dtype=np.int64)
                out[name] = pd.Series(arr.view("datetime64[us]"), dtype="datetime64[us, UTC]", copy=False)
            elif col.kind == "time":
                out[name] = pd.Series(pd.to_datetime(vals, utc=True)).dt.as_unit("us")
            elif nested_ok and col.kind in ("messages", "documents"):
                out[name] = _object_series(vals)
            elif col.kind in ("messages", "documents", "strings"):
                kind = col.kind
                out[name] = pd.Series([None if v is None else _nested_value(kind, v) for v in vals], dtype=object)
            elif col.kind == "json":
                out[name] = _object_series(vals)
            else:  # bool
                out[name] = pd.Series(pd.array(vals, dtype="boolean"))
        except (TypeError, ValueError, AttributeError) as e:
            bad = next((i for i, v in enumerate(vals) if v is not None and not _fits(col.kind, v)), None)
            where = f"; first offending value {vals[bad]!r} in span {ids[bad]!r}" if bad is not None else ""
            raise LoadError(f"column {name!r} cannot be read as {col.kind} ({e}){where}",
                            expected=f"{name} as {col.kind}") from None
    if us:  # a missing latency is end - start, as timedelta.total_seconds() * 1000 gives it
        start, end, lat = us["start_time"], us["end_time"], out["latency_ms"]
        missing = np.isnan(lat) & (start != nat) & (end != nat)
        if missing.any():
            lat[missing] = ((end[missing] - start[missing]) / 1_000_000) * 1000.0
    for name, v in out.items():
        if type(v) is np.ndarray:  # the float columns
            out[name] = pd.Series(v, copy=False)
    # copy=False: each column keeps its own array (no copy of the object columns into one 2-D block)
    df = pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)
    if not us:
        lat = df["latency_ms"]
        missing = lat.isna() & df["start_time"].notna() & df["end_time"].notna()
        if missing.any():
            df.loc[missing, "latency_ms"] = (df.loc[missing, "end_time"] - df.loc[missing, "start_time"]).dt.total_seconds() * 1000.0
    return df


def _fits(kind: str, v: Any) -> bool:
    try:
        if kind == "int":
            int(v)
            return not isinstance(v, str) or v.strip().lstrip("-").isdigit()
        if kind == "float":
            float(v)
        if kind == "time":
            pd.Timestamp(v)
        return True
    except (TypeError, ValueError):
        return False


def _break_cycles(acc: _Columns, index: dict[tuple[Any, Any], int], errors: str,
                  problems: list[dict[str, Any]]) -> None:
    """Find cycles in parent links (``index``: key -> row of the kept spans); cut one link of each."""
    parents = acc.cols["parent_span_id"]
    # a span on a cycle has its parent on the cycle: peel off the spans whose parent link leads out
    # (to a root or a span not read) layer by layer; nothing left means no cycle (no walk needed)
    linked = {key for key, i in index.items() if parents[i]}  # spans with a parent link
    left = {key for key, i in index.items() if (p := parents[i]) and (key[0], p) in linked}
    up = {key: (key[0], parents[index[key]]) for key in left}
    while left:
        inner = {key for key in left if up[key] in left}
        if len(inner) == len(left):
            break
        left = inner
    if not left:
        return
    parent = {key: parents[i] for key, i in index.items() if parents[i] is not None}
    state: dict[tuple[Any, Any], int] = {}
    for start in parent:
        if state.get(start):
            continue
        path = []
        cur: tuple[Any, Any] | None = start
        while cur is not None and cur in parent and not state.get(cur):
            state[cur] = 1  # on the current path
            path.append(cur)
            p = parent[cur]
            nxt = (cur[0], p) if p else None
            if nxt is not None and state.get(nxt) == 1:
                i = index[cur]
                file, rec = acc.where(i)
                err = LoadError(f"parent links form a cycle in trace {cur[0]!r} through span {cur[1]!r}",
                                file=file, record=rec, expected="parent links to form a tree")
                if errors == "raise":
                    raise err
                parents[i] = None
                problems.append({"file": file, "record": rec if rec is not None else f"span {cur[1]}",
                                 "error": str(err), "action": "cut the link to the parent"})
                nxt = None
            cur = nxt
        for k in path:
            state[k] = 2
