"""Versions: save a frame as a new immutable version (an atomic Delta commit with its message,
author and layout), read one back (time travel by number or tag, as pandas, Arrow or Hugging Face
datasets), the history of a dataset and the list of datasets."""

from __future__ import annotations

import html
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa

from llmops_nb._compat import renamed_argument
from llmops_nb.datasets._arrow import JSON_COLUMNS, arrow_to_frame, frame_to_arrow
from llmops_nb.datasets._cleanup import _remove_staging
from llmops_nb.datasets._errors import DatasetConflictError, DatasetError
from llmops_nb.datasets._location import (
    _META,
    _RETRIES,
    DatasetStorage,
    _author,
    _check_name,
    _commit_info,
    _library_version,
    _list_names,
    _lock,
    _open,
    resolve_storage,
)
from llmops_nb.datasets._migrations import SCHEMA_VERSION, _upgrade
from llmops_nb.datasets._tags import _check_tag, _resolve_version, tag, tags

__all__ = ["DatasetVersion", "save", "load", "history", "list_datasets"]


@dataclass(frozen=True)
class DatasetVersion:
    """One saved version of a dataset (what :func:`save` returns and :func:`history` lists).

    Example:
        >>> import tempfile
        >>> v = save(pd.DataFrame({"example_id": ["a", "b"]}), "dv", message="first", store=tempfile.mkdtemp())
        >>> v.version, v.n_rows
        (0, 2)
    """

    name: str
    version: int
    message: str
    author: str | None
    timestamp: datetime | None
    n_rows: int | None
    schema_version: int
    library_version: str | None
    uri: str
    tags: tuple[str, ...] = ()
    redacted: bool = False
    redacted_spans: int = 0

    def __repr__(self) -> str:
        tags = f" tags={list(self.tags)}" if self.tags else ""
        red = f", PII redacted ({self.redacted_spans} spans)" if self.redacted else ""
        return f"<DatasetVersion {self.name}@v{self.version}: {self.n_rows} rows, {self.message!r} by {self.author}{tags}{red}>"

    def _repr_html_(self) -> str:
        return (
            f"<div><b>{html.escape(self.name)}</b> v{self.version} "
            f"({self.n_rows:,} rows) &mdash; {html.escape(self.message)} "
            f"<small>by {html.escape(str(self.author))}, {self.timestamp:%Y-%m-%d %H:%M} UTC, "
            f"schema {self.schema_version}{', tags ' + html.escape(', '.join(self.tags)) if self.tags else ''}"
            f"<br><code>{html.escape(self.uri)}</code></small></div>"
        )


def _version_from(h: Mapping[str, Any], name: str, st: DatasetStorage, tag_map: Mapping[str, int]) -> DatasetVersion:
    ts = h.get("timestamp")
    v = int(h["version"])
    return DatasetVersion(
        name=name,
        version=v,
        message=str(h.get("message") or h.get(_META + "message") or ""),
        author=h.get(_META + "author") or h.get("userName"),
        timestamp=datetime.fromtimestamp(ts / 1000, tz=timezone.utc) if ts else None,
        n_rows=int(h[_META + "rows"]) if h.get(_META + "rows") is not None else (h.get("operationMetrics") or {}).get("num_added_rows"),
        schema_version=int(h.get(_META + "schema_version", 0)),
        library_version=h.get(_META + "library_version"),
        uri=st.uri(name),
        tags=tuple(sorted(t for t, tv in tag_map.items() if tv == v)),
        redacted=h.get(_META + "redacted") == "true",
        redacted_spans=int(h.get(_META + "redacted_spans") or 0),
    )


@renamed_argument("storage", "store", "llmops_nb.datasets.save")
def save(
    frame: pd.DataFrame,
    name: str,
    *,
    message: str,
    tags: Sequence[str] = (),
    store: Any = None,
    author: str | None = None,
    redact: bool | None = None,
    verbose: bool = True,
) -> DatasetVersion:
    """Write ``frame`` as a new immutable version of dataset ``name`` and return that version.

    Each version is a full snapshot committed atomically to a Delta table: a crash leaves the
    earlier versions as they were, and two writers at once both land (one after the other, each
    whole) or one gets :class:`DatasetConflictError`. The commit records ``message``, ``author``
    (default ``$LLMOPS_NB_AUTHOR`` or the login name), the llmops_nb version, the examples schema
    version and the row count; ``tags`` are then pointed at the new version. The frame needs a
    unique ``example_id`` column (see :func:`to_examples`). PII is redacted first
    (:func:`redact`) when the storage is not a local folder (an ``s3://`` URL shares the data
    beyond this machine) and a line says so; ``redact=True`` / ``False`` decides it explicitly.

    Example:
        >>> import tempfile, pandas as pd
        >>> root = tempfile.mkdtemp()
        >>> df = pd.DataFrame({"example_id": ["a", "b"], "input_text": ["hi", "bye"]})
        >>> save(df, "smoke", message="first cut", store=root, author="ana").version
        0
    """
    from deltalake import CommitProperties, write_deltalake
    from deltalake.exceptions import CommitFailedError

    st = resolve_storage(store)
    _check_name(name)
    if not isinstance(message, str) or not message.strip():
        raise DatasetError("save(..., message=...) needs a non-empty message saying what changed")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"save needs a pandas DataFrame, got {type(frame).__name__}")
    for t in tags:
        _check_tag(t)
    redacted_spans = 0
    by_default = redact is None
    if redact is None:
        redact = not st.is_local
    if redact:
        from llmops_nb.pii import redact_frame as _redact

        res = _redact(frame)
        frame, redacted_spans = res.frame, len(res.spans)
        if verbose:
            why = " (on by default for shared storage; redact=False keeps the text)" if by_default else ""
            print(f"{name}: {res.summary()}{why}")
    table, json_cols = frame_to_arrow(frame)
    author = _author(author)
    commit_id = uuid.uuid4().hex
    meta = {
        "message": message,
        _META + "message": message,
        _META + "author": author,
        _META + "library_version": _library_version(),
        _META + "schema_version": str(SCHEMA_VERSION),
        _META + "rows": str(table.num_rows),
        _META + "json_columns": orjson.dumps(json_cols).decode(),
        _META + "tags": orjson.dumps(list(tags)).decode(),
        _META + "redacted": "true" if redact else "false",
        _META + "redacted_spans": str(redacted_spans),
        _META + "commit_id": commit_id,
    }
    uri = st.uri(name)
    if st.is_local:
        st.local_root.mkdir(parents=True, exist_ok=True)
    last_err: Exception | None = None
    with _lock(name, st):
        _remove_staging(name, st)  # files cut short by a killed save (no save runs while we hold the lock)
        for attempt in range(_RETRIES):
            try:
                write_deltalake(
                    uri,
                    table,
                    mode="overwrite",
                    schema_mode="overwrite",
                    name=name,
                    description=f"llmops_nb dataset {name}",
                    storage_options=st.delta_options(),
                    # no rebasing: if another writer took the next version, this commit fails and
                    # the whole write is redone on the new snapshot (delta-rs would otherwise rebase
                    # an overwrite of an empty snapshot onto the winner and keep both writers' rows)
                    commit_properties=CommitProperties(custom_metadata=meta, max_commit_retries=0),
                )
                last_err = None
                break
            except CommitFailedError as e:  # a concurrent writer committed first: retry
                last_err = e
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
            except Exception as e:
                if "already exists" in str(e).lower() or "version" in str(e).lower() and "exists" in str(e).lower():
                    last_err = e
                    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
                    continue
                raise
    if last_err is not None:
        raise DatasetConflictError(
            f"could not save a version of {name!r}: other writers committed first {_RETRIES} times in a row "
            f"(last error: {str(last_err).splitlines()[0]}). No version was written by this call; "
            "save again, or serialise the writers."
        )
    recent = list(_open(name, st).history(50))
    mine = next((h for h in recent if h.get(_META + "commit_id") == commit_id), None)
    if mine is None:  # more than 50 versions landed since: look through all of them
        mine = next((h for h in _commit_info(name, st) if h.get(_META + "commit_id") == commit_id), None)
    if mine is None:  # pragma: no cover - history not visible yet
        raise DatasetError(f"saved {name!r} but cannot find the commit {commit_id} in its history")
    for t in tags:
        tag(name, int(mine["version"]), t, store=st, author=author)
    return _version_from(mine, name, st, {t: int(mine["version"]) for t in tags})


@renamed_argument("storage", "store", "llmops_nb.datasets.history")
def history(name: str, *, store: Any = None) -> pd.DataFrame:
    """The versions of a dataset, newest first: one row per version (version, timestamp,
    message, author, rows, tags, schema_version, library_version).

    Example:
        >>> import tempfile, pandas as pd
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a"]}), "h", message="one", store=root)
        >>> history("h", store=root)[["version", "message"]].values.tolist()
        [[0, 'one']]
    """
    st = resolve_storage(store)
    hist = _commit_info(name, st)
    tmap = tags(name, store=st)
    rows = []
    for h in hist:
        dv = _version_from(h, name, st, tmap)
        rows.append(
            {
                "version": dv.version,
                "timestamp": dv.timestamp,
                "message": dv.message,
                "author": dv.author,
                "rows": dv.n_rows,
                "tags": list(dv.tags),
                "schema_version": dv.schema_version,
                "library_version": dv.library_version,
                "redacted": dv.redacted,
                "operation": h.get("operation"),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("version", ascending=False).reset_index(drop=True)
        df["rows"] = df["rows"].astype("Int64")
    return df


def _version_meta(name: str, v: int, st: DatasetStorage) -> dict[str, Any]:
    for h in _commit_info(name, st):
        if int(h["version"]) == v:
            return h
    return {}


def _read(name: str, version: int | str | None, st: DatasetStorage) -> tuple[pa.Table, list[str], int, dict[str, Any]]:
    v = _resolve_version(name, version, st)
    dt = _open(name, st, v)
    table = dt.to_pyarrow_table()
    top = dt.history(1)
    meta = top[0] if top and int(top[0]["version"]) == v else _version_meta(name, v, st)
    sv = int(meta.get(_META + "schema_version", 0))
    table = _upgrade(table, sv, f"{name}@v{v}")
    json_cols = orjson.loads(meta[_META + "json_columns"]) if meta.get(_META + "json_columns") else list(JSON_COLUMNS)
    return table, list(json_cols), v, meta


@renamed_argument("storage", "store", "llmops_nb.datasets.load")
def load(
    name: str,
    version: int | str | None = None,
    *,
    tag: str | None = None,
    as_: Literal["datasets", "pandas", "arrow"] = "datasets",
    split: str | None = None,
    store: Any = None,
) -> Any:
    """Load a version (default the latest; a version number, ``tag=``, or ``"name@3"`` /
    ``"name@gold"`` for time travel).

    ``as_="datasets"`` (default) returns a Hugging Face ``datasets.Dataset``, or a
    ``DatasetDict`` keyed by split when the version has a ``split`` column and ``split`` is not
    given (rows without a split go under ``"unassigned"``); JSON columns (labels, results,
    metadata) are JSON text there. ``as_="pandas"`` returns a frame with those parsed;
    ``as_="arrow"`` the Arrow table. ``split="test"`` keeps one split. Versions written with an
    older examples schema are upgraded on read.

    Example:
        >>> import tempfile, pandas as pd
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a"], "input_text": ["hi"]}), "l", message="m", store=root)
        >>> load("l", store=root, as_="pandas").loc[0, "input_text"]
        'hi'
    """
    st = resolve_storage(store)
    if "@" in name and version is None and tag is None:  # "name@3", "name@gold"
        name, version = name.split("@", 1)
    if tag is not None and version is not None:
        raise DatasetError("give version= or tag=, not both")
    if as_ not in ("datasets", "pandas", "arrow"):
        raise DatasetError(f"as_={as_!r} is not one of 'datasets', 'pandas', 'arrow'")
    table, json_cols, v, _ = _read(name, tag if tag is not None else version, st)
    if split is not None:
        if "split" not in table.column_names:
            raise DatasetError(f"{name}@v{v} has no split column; assign one with assign_splits(...) before saving")
        import pyarrow.compute as pc

        present = sorted({s for s in table.column("split").to_pylist() if s is not None})
        if split not in present:
            raise DatasetError(f"{name}@v{v} has no split {split!r}; splits are {present}")
        table = table.filter(pc.equal(table.column("split"), split))
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return arrow_to_frame(table, json_cols)
    return _to_hf(table, split_by=split is None, fingerprint=f"{st.uri(name)}@{v}:{split}")


def _to_hf(table: pa.Table, split_by: bool = True, fingerprint: str | None = None) -> Any:
    """A ``datasets.Dataset`` (or ``DatasetDict`` by split) over the Arrow table, without a copy.

    ``fingerprint`` names the content (dataset uri and version); without it a random one is used,
    because ``datasets`` would otherwise hash the whole table (a second per 100k rows)."""
    import hashlib

    from llmops_nb._optional import require

    ds_mod = require("datasets", "loading versions as Hugging Face datasets")
    from datasets.table import InMemoryTable

    base = fingerprint or uuid.uuid4().hex

    def make(t: pa.Table, part: str = "") -> Any:
        fp = hashlib.sha1(f"{base}:{part}".encode()).hexdigest()[:16]
        return ds_mod.Dataset(InMemoryTable(t), fingerprint=fp)

    if split_by and "split" in table.column_names:
        splits = table.column("split").to_pylist()
        names = sorted({s for s in splits if s is not None})
        if names:
            import pyarrow.compute as pc

            parts = {s: make(table.filter(pc.equal(table.column("split"), s)), s) for s in names}
            n_none = sum(1 for s in splits if s is None)
            if n_none:
                parts["unassigned"] = make(table.filter(pc.is_null(table.column("split"))), "unassigned")
            return ds_mod.DatasetDict(parts)
    return make(table)


@renamed_argument("storage", "store", "llmops_nb.datasets.list_datasets")
def list_datasets(*, store: Any = None) -> pd.DataFrame:
    """The datasets in a storage: one row per dataset (name, latest version, rows, last
    message, author, updated, tags, uri).

    Example:
        >>> import tempfile
        >>> list_datasets(store=tempfile.mkdtemp()).shape[0]
        0
    """
    st = resolve_storage(store)
    rows = []
    for nm in _list_names(st):
        h = history(nm, store=st)
        top = h.iloc[0]
        all_tags = sorted({t for ts in h["tags"] for t in ts})
        rows.append(
            {
                "name": nm,
                "version": int(top["version"]),
                "rows": top["rows"],
                "message": top["message"],
                "author": top["author"],
                "updated": top["timestamp"],
                "versions": len(h),
                "tags": all_tags,
                "uri": st.uri(nm),
            }
        )
    cols = ["name", "version", "rows", "message", "author", "updated", "versions", "tags", "uri"]
    return pd.DataFrame(rows, columns=cols)
