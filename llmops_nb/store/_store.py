"""The embedded store: Parquet segments under a manifest, queried with DuckDB.

Why this design (also in the README): Parquet is an open columnar format every tool reads;
each ingest writes one immutable segment file and then swaps a small manifest with an atomic
``os.replace``, so a killed ingest leaves the store exactly as it was and readers in other
processes never see half a write. DuckDB (in-process, no server) queries the segments, so a
notebook can read while another process ingests; a DuckDB database file could not do that, as
it admits one writing process and no readers beside it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from llmops_nb.schema import (
    LABELS,
    RESULTS,
    SPAN_KINDS,
    SPAN_STATUSES,
    SPANS,
    Table,
    from_arrow,
    to_arrow,
)

__all__ = ["Store", "default_store_path", "TableSpec", "as_store"]

FORMAT_VERSION = 1
_COMPACT_AFTER = 64  # segments
_ROW_GROUP = 128_000  # rows per Parquet row group (readers skip row groups by their min/max)
_BIG_SEGMENT = 1_000_000  # rows: automatic compaction merges the newer, smaller segments after the last one this big
MANIFEST = "_manifest.json"  # '_' first: lake readers (Spark, pyarrow, Ray) skip it in the table folder
_OLD_MANIFEST = "manifest.json"
RETIRED = "_retired"  # segments replaced by a compaction wait here (outside the table's live files) for readers
KEYS = "_keys"  # per segment, the sorted 64-bit hashes of its keys (what Store.add checks a new row against)
_KEYS_MAGIC = b"LNBKEYS1"
_HASH_SQL = "hash({cols})"  # DuckDB's 64-bit hash of a row's key columns
_MMAP_KEYS = 1_000_000  # key indexes bigger than this are memory-mapped, smaller ones read
_UNSET: Any = object()


def default_store_path() -> Path:
    """``$LLMOPS_NB_HOME`` or ``./.llmops``.

    Example:
        >>> isinstance(default_store_path(), Path)
        True
    """
    return Path(os.environ.get("LLMOPS_NB_HOME") or ".llmops")


@dataclass(frozen=True)
class TableSpec:
    """A table kept in the store: its declaration, its key columns and its sort column.

    Example:
        >>> from llmops_nb.schema import SPANS
        >>> TableSpec(SPANS, ("trace_id", "span_id"), "start_time").key
        ('trace_id', 'span_id')
    """

    table: Table
    key: tuple[str, ...]
    sort_by: str | None = None


_BUILTIN: dict[str, TableSpec] = {
    "spans": TableSpec(SPANS, ("trace_id", "span_id"), "start_time"),
    "results": TableSpec(RESULTS, ("result_id",), "created_at"),
    "labels": TableSpec(LABELS, ("label_id",), "created_at"),
}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Store:
    """An embedded, server-less store of spans, results, labels and any declared table.

    ``path`` defaults to ``$LLMOPS_NB_HOME`` or ``./.llmops``. Writes are idempotent (a row
    whose key is already stored is skipped, or replaces it with ``on_conflict="replace"``) and
    atomic; reads never block and see only whole writes.

    Example:
        >>> import llmops_nb as lo, tempfile
        >>> store = lo.Store(tempfile.mkdtemp())
        >>> spans = lo.read_traces([{"trace_id": "t1", "span_id": "s1", "name": "root",
        ...     "kind": "chain"}], format="records")
        >>> store.add_spans(spans), store.add_spans(spans)
        (1, 0)
        >>> len(store.spans())
        1
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, redact: Any = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self._specs: dict[str, TableSpec] = dict(_BUILTIN)
        self._con: Any = None
        self._swept = False
        self._redact_arg = redact
        self._redaction: Any = _UNSET
        if redact is not None:
            from llmops_nb.pii import Redaction

            Redaction.of(redact)  # a bad value or a missing extra fails here, with its fix

    @property
    def redaction(self) -> Any:
        """The PII redaction applied to every row before it is written, or None.

        ``Store(path, redact="pii")`` (or ``"pii+names"``, with the ``pii`` extra) turns it on and
        records it in the store's ``store.json``, so every later process that opens the store
        (the collector, ``pull``, ``capture``, the monitor) redacts too: raw values never reach
        its files. It cannot be turned off for that store again.

        Example:
            >>> import tempfile, llmops_nb as lo
            >>> st = Store(tempfile.mkdtemp(), redact="pii")
            >>> _ = st.add_spans(lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm",
            ...     "input_text": "I am ann@corp.io"}], format="records"))
            >>> Store(st.path).spans()["input_text"].tolist(), Store(st.path).redaction.mode
            (['I am [EMAIL]'], 'pii')
        """
        if self._redaction is _UNSET:
            from llmops_nb.pii import Redaction

            try:
                stored = orjson.loads((self.path / "store.json").read_bytes()).get("redact")
            except FileNotFoundError:
                stored = None
            arg = self._redact_arg
            if stored and arg is not None and Redaction.of(arg) is None:
                raise ValueError(f"store {self.path} redacts PII at ingest (store.json: redact={stored!r}); "
                                 f"redact={arg!r} cannot turn that off. Use another store folder for raw traces.")
            self._redaction = Redaction.of(arg if arg is not None else stored)
        return self._redaction

    # ------------------------------------------------------------------ layout
    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{name}</td><td>{self.count(name):,}</td></tr>" for name in self.tables()
        )
        return (
            f"<div><b>llmops_nb Store</b> at <code>{self.path}</code>"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table></div>"
        )

    def ensure(self) -> Store:
        """Create the store's folder (idempotent); returns the store.

        Example:
            >>> import tempfile, os
            >>> st = Store(os.path.join(tempfile.mkdtemp(), "new")).ensure()
            >>> (st.path / "store.json").exists()
            True
        """
        self._ensure()
        return self

    def _ensure(self) -> None:
        (self.path / "tables").mkdir(parents=True, exist_ok=True)
        meta = self.path / "store.json"
        red = self.redaction
        if not meta.exists():
            doc: dict[str, Any] = {"format_version": FORMAT_VERSION}
            if red is not None:
                doc["redact"] = red.mode
            _atomic_write_bytes(meta, orjson.dumps(doc))
        elif red is not None:
            doc = orjson.loads(meta.read_bytes())
            if doc.get("redact") != red.mode:
                doc["redact"] = red.mode
                _atomic_write_bytes(meta, orjson.dumps(doc))

    def _dir(self, name: str) -> Path:
        return self.path / "tables" / name

    def _manifest(self, name: str) -> dict[str, Any]:
        d = self._dir(name)
        for f in (MANIFEST, _OLD_MANIFEST):  # stores written before the manifest was named _manifest.json
            try:
                return orjson.loads((d / f).read_bytes())
            except FileNotFoundError:
                continue
        return {"segments": [], "version": 0, "replaced": False}

    def _write_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        d = self._dir(name)
        _atomic_write_bytes(d / MANIFEST, orjson.dumps(manifest))
        with contextlib.suppress(FileNotFoundError):  # the old name is not a Parquet file: tools reading the folder choke on it
            (d / _OLD_MANIFEST).unlink()

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The store's writer lock (one writer at a time, across processes), for a
        read-modify-write of files kept in the store folder.

        Example:
            >>> import tempfile
            >>> st = Store(tempfile.mkdtemp())
            >>> with st.lock():
            ...     (st.path / "notes.txt").write_text("ok")
            2
        """
        return self._lock()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        from filelock import FileLock

        self._ensure()
        with FileLock(str(self.path / ".write.lock"), timeout=600):
            if not self._swept:  # the first write of this Store: clear what killed writers left
                self._swept = True
                self._sweep_locked()
            yield

    def cleanup(self) -> list[str]:
        """Delete what killed writers left behind: half-written segment and manifest files
        (``.*.tmp``) and segment files no manifest references (written, but killed before the
        manifest swap). Runs only while no writer holds the store's lock (it returns at once,
        removing nothing, when one does); it also runs by itself on a Store's first write.
        Returns the removed paths (relative to the store).

        Example:
            >>> import tempfile
            >>> Store(tempfile.mkdtemp()).cleanup()
            []
        """
        from filelock import FileLock, Timeout

        if not (self.path / "tables").exists():
            return []
        lock = FileLock(str(self.path / ".write.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return []
        try:
            self._swept = True
            return self._sweep_locked()
        finally:
            lock.release()

    def _sweep_locked(self) -> list[str]:
        """Under the writer lock (so no write is in progress): remove leftovers of killed writes."""
        removed: list[Path] = []
        tables = self.path / "tables"
        dirs = [p for p in tables.iterdir() if p.is_dir()] if tables.exists() else []
        for p in self.path.glob(".state.json.*.tmp"):
            removed.append(p)
        for d in dirs:
            removed.extend(d.glob(".*.tmp"))
            manifest = self._manifest(d.name)
            known = {s["file"] for s in manifest["segments"]} | {r["file"] for r in manifest.get("retired", [])}
            removed.extend(p for p in d.glob("seg-*.parquet") if p.name not in known)
            live = {s["file"] for s in manifest["segments"]}
            removed.extend(p for p in (d / KEYS).glob("*") if p.name.removesuffix(".keys") not in live)
            for r in manifest.get("retired", []):  # killed between the manifest swap and the move
                if r["file"] not in live and (d / r["file"]).exists():
                    (d / RETIRED).mkdir(exist_ok=True)
                    os.replace(d / r["file"], d / RETIRED / r["file"])
        out = []
        for p in removed:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                out.append(str(p.relative_to(self.path)))
        return sorted(out)

    def register(self, name: str, table: Table, key: Sequence[str], sort_by: str | None = None) -> None:
        """Declare an extra table (for example experiments or watermarks) kept in this store.

        Example:
            >>> from llmops_nb.schema import Table, Column
            >>> t = Table("notes", "one row per note", (Column("note_id", "str", "id", True),))
            >>> Store("/tmp/x").register("notes", t, key=["note_id"])
        """
        for k in key:
            table.column(k)
        self._specs[name] = TableSpec(table, tuple(key), sort_by)

    def spec(self, name: str) -> TableSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(
                f"unknown table {name!r}; known tables: {sorted(self._specs)}. "
                "Declare it first with store.register(name, table, key=[...])."
            ) from None

    def tables(self) -> list[str]:
        """Names of the tables that hold data."""
        d = self.path / "tables"
        if not d.exists():
            return []
        return sorted(p.name for p in d.iterdir() if (p / MANIFEST).exists() or (p / _OLD_MANIFEST).exists())

    def files(self, name: str) -> list[str]:
        """The segment files that make up table ``name`` now."""
        d = self._dir(name)
        return [str(d / s["file"]) for s in self._manifest(name)["segments"]]

    def count(self, name: str = "spans") -> int:
        """Rows in table ``name`` (before resolving replaced rows)."""
        return sum(s["rows"] for s in self._manifest(name)["segments"])

    # ------------------------------------------------------------------ writing
    def add(
        self,
        name: str,
        df: pd.DataFrame | pa.Table,
        *,
        on_conflict: Literal["ignore", "replace"] = "ignore",
    ) -> int:
        """Append rows to table ``name``; returns how many rows were written.

        Rows whose key is already stored are skipped (``on_conflict="ignore"``) or replace the
        stored row (``"replace"``). The write is atomic: all of it or nothing.
        """
        if on_conflict not in ("ignore", "replace"):
            raise ValueError(f"on_conflict={on_conflict!r}; valid: 'ignore', 'replace'")
        spec = self.spec(name)
        red = self.redaction
        if red is not None:  # PII replaced before anything is written
            self._ensure()
            df = red.frame(from_arrow(df, spec.table) if isinstance(df, pa.Table) else df)
        data = df if isinstance(df, pa.Table) else to_arrow(df, spec.table)
        if data.schema != spec.table.arrow_schema:
            data = data.select(spec.table.names).cast(spec.table.arrow_schema)
        self._validate(name, data)
        if data.num_rows == 0:
            return 0
        import numpy as np

        with _write_connection() as con:
            con.register("new_rows", data)
            keys = ", ".join(spec.key)
            hashes = _key_hashes(con, "new_rows", spec.key)
            order = np.argsort(hashes)
            ordered = hashes[order]  # sorted: the key indexes are searched with sorted hashes (far fewer cache misses)
            # dedupe inside the batch (the last occurrence wins); skipped when keys are already unique
            # (read_traces guarantees it; distinct hashes prove it), which spares a copy of the whole batch
            unique = bool((ordered[1:] != ordered[:-1]).all()) or con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM new_rows)").fetchall()[0][0] == data.num_rows
            if unique:
                batch = data
            else:
                batch = con.sql(
                    f"SELECT * EXCLUDE (__rn, __pos) FROM (SELECT *, row_number() OVER (PARTITION BY {keys} "
                    f"ORDER BY __pos DESC) AS __rn FROM (SELECT *, row_number() OVER () AS __pos FROM new_rows)) "
                    f"WHERE __rn = 1"
                ).to_arrow_table()
            con.register("batch", batch)
            if not unique:
                hashes = _key_hashes(con, "batch", spec.key)
                order = np.argsort(hashes)
                ordered = hashes[order]
            with self._lock():
                manifest = self._manifest(name)
                files = [str(self._dir(name) / s["file"]) for s in manifest["segments"]]
                if files and on_conflict == "ignore":
                    # which keys are stored already: the key index of each segment says which rows may be
                    # (a 64-bit hash match), and only those rows are checked against the key columns of
                    # only those segments: the cost follows the batch and the segments, not the rows stored
                    maybe = np.zeros(batch.num_rows, dtype=bool)
                    hit_files = []
                    for seg, seg_path in zip(manifest["segments"], files):
                        hit = _contains(self._key_index(con, name, seg["file"]), ordered)
                        if hit.any():
                            maybe[order[hit]] = True
                            hit_files.append(seg_path)
                    if hit_files:
                        con.register("maybe", pa.table({"__i": np.flatnonzero(maybe)}))
                        flist = ", ".join("'" + f.replace("'", "''") + "'" for f in hit_files)
                        key_cols = ", ".join(spec.key)
                        stored = con.execute(
                            f"SELECT b.__i FROM (SELECT * FROM (SELECT {key_cols}, row_number() OVER () - 1 AS __i FROM batch) "
                            f"SEMI JOIN maybe USING (__i)) b "
                            f"SEMI JOIN (SELECT {key_cols} FROM read_parquet([{flist}])) o USING ({key_cols})"
                        ).fetchnumpy()["__i"]
                        if len(stored):
                            mask = np.ones(batch.num_rows, dtype=bool)
                            mask[stored.astype(np.int64)] = False
                            batch = batch.filter(pa.array(mask))
                            hashes = hashes[mask]
                if spec.sort_by and batch.num_rows > _ROW_GROUP:
                    # sorted, the segment's row groups cover separate ranges that readers skip by their
                    # min/max; a segment of one row group has the same min/max in any order: unsorted
                    # (the OTLP receiver's 50k-span writes save the copy of every column)
                    import pyarrow.compute as pc

                    col = batch.column(spec.sort_by)
                    idx = pc.sort_indices(col)  # nulls last by default
                    if not pc.all(pc.equal(idx, pa.array(range(len(idx)), type=idx.type))).as_py():
                        batch = batch.take(idx)
                if batch.schema != spec.table.arrow_schema:
                    batch = batch.cast(spec.table.arrow_schema)
                if batch.num_rows == 0:
                    return 0
                d = self._dir(name)
                d.mkdir(parents=True, exist_ok=True)
                seg = f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
                tmp = d / f".{seg}.tmp"
                pq.write_table(batch, tmp, compression="zstd", row_group_size=_ROW_GROUP)
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, d / seg)
                _write_keys(d, seg, hashes)  # before the manifest names the segment: a live segment has its index
                manifest = dict(manifest)
                manifest["segments"] = [*manifest["segments"], {"file": seg, "rows": batch.num_rows}]
                manifest["version"] = manifest.get("version", 0) + 1
                if files and on_conflict == "replace":
                    manifest["replaced"] = True
                self._write_manifest(name, manifest)
                if len(manifest["segments"]) > _COMPACT_AFTER:
                    self._compact_locked(name, auto=True)
                return batch.num_rows

    def _key_index(self, con: Any, name: str, seg: str) -> Any:
        """The sorted key hashes of segment ``seg`` (memory-mapped); built from the segment's key
        columns when it has none yet (a store written before the index, or a compacted segment)
        or when its file is not whole or was made by another hash function."""
        d = self._dir(name)
        keys = _read_keys(d / KEYS / f"{seg}.keys")
        if keys is None:
            path = str(d / seg).replace("'", "''")
            con.execute(f"CREATE OR REPLACE TEMP VIEW __seg AS SELECT * FROM read_parquet('{path}')")
            keys = _write_keys(d, seg, _key_hashes(con, "__seg", self.spec(name).key))
        return keys

    def _validate(self, name: str, data: pa.Table) -> None:
        spec = self.spec(name)
        for c in spec.table.columns:
            if c.required and data.column(c.name).null_count:
                idx = data.column(c.name).is_null().to_pylist().index(True)
                raise ValueError(
                    f"{name}: row {idx} has no {c.name!r}, which every row needs; "
                    "fill it in or drop the row before adding."
                )
        if name == "spans":
            for col, valid in (("kind", SPAN_KINDS), ("status", SPAN_STATUSES)):
                bad = set(data.column(col).unique().to_pylist()) - set(valid)
                if bad:
                    raise ValueError(f"spans: {col} values {sorted(bad)} are not valid; valid: {list(valid)}")

    def add_spans(self, spans: pd.DataFrame, *, on_conflict: Literal["ignore", "replace"] = "ignore") -> int:
        """Add spans (idempotent: the same span twice is one row); returns rows written."""
        return self.add("spans", spans, on_conflict=on_conflict)

    def add_results(self, results: pd.DataFrame) -> int:
        """Add evaluation results (keyed by result_id); returns rows written."""
        return self.add("results", results)

    def add_labels(self, labels: pd.DataFrame) -> int:
        """Append human labels (keyed by label_id; never updated in place); returns rows written."""
        return self.add("labels", labels)

    def compact(self, name: str = "spans") -> None:
        """Merge a table's segments into one file (resolving replaced rows)."""
        with self._lock():
            self._compact_locked(name)

    def _compact_locked(self, name: str, auto: bool = False) -> None:
        """Merge segments into one file, streaming (memory holds one row group, not the table).
        ``compact()`` merges them all (and resolves replaced rows); the automatic compaction
        after every ``_COMPACT_AFTER`` segments merges only the newer segments that follow the
        last big one (each row is rewritten a few times, not at every compaction). Replaced
        segments move to ``_retired/`` at once, so the table's folder holds only live files."""
        manifest = self._manifest(name)
        segs = manifest["segments"]
        if len(segs) <= 1 and not manifest.get("replaced"):
            return
        k = 0
        if auto:
            k = len(segs)
            while k > 0 and segs[k - 1]["rows"] < _BIG_SEGMENT:
                k -= 1
            if len(segs) - k < 2:  # nothing small to merge
                return
        merged = self._write_merged(name, {**manifest, "segments": segs[k:]})
        old = [seg["file"] for seg in segs[k:]]
        self._write_manifest(
            name,
            {"segments": [*segs[:k], *([merged] if merged["rows"] else [])], "version": manifest.get("version", 0) + 1,
             "replaced": bool(manifest.get("replaced")) and k > 0,
             "retired": [*manifest.get("retired", []), *[{"file": f, "at": time.time()} for f in old]]},
        )
        if not merged["rows"]:
            with contextlib.suppress(FileNotFoundError):
                (self._dir(name) / merged["file"]).unlink()
        d = self._dir(name)
        (d / RETIRED).mkdir(exist_ok=True)
        for f in old:
            with contextlib.suppress(FileNotFoundError):
                os.replace(d / f, d / RETIRED / f)
            with contextlib.suppress(FileNotFoundError):  # only live segments are checked for stored keys
                (d / KEYS / f"{f}.keys").unlink()
        self._gc(name)

    def _write_merged(self, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the rows of ``manifest``'s segments (replaced rows resolved) into one new segment,
        batch by batch; returns its manifest entry."""
        import duckdb

        schema = self.spec(name).table.arrow_schema
        d = self._dir(name)
        seg = f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = d / f".{seg}.tmp"
        rows = 0
        con = duckdb.connect()
        try:
            reader = con.sql(f"SELECT * FROM {self._source_sql(name, manifest)} t").fetch_record_batch(128_000)
            with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
                for batch in reader:
                    w.write_table(pa.Table.from_batches([batch]).cast(schema), row_group_size=_ROW_GROUP)
                    rows += batch.num_rows
        finally:
            con.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, d / seg)
        return {"file": seg, "rows": rows}

    def _gc(self, name: str, grace_s: float = 300.0) -> None:
        """Delete retired segments once no reader can still be holding an old manifest."""
        manifest = self._manifest(name)
        keep = []
        d = self._dir(name)
        for r in manifest.get("retired", []):
            if time.time() - r["at"] > grace_s:
                for f in (d / RETIRED / r["file"], d / r["file"]):  # the second: stores from before _retired/
                    with contextlib.suppress(FileNotFoundError):
                        f.unlink()
            else:
                keep.append(r)
        if keep != manifest.get("retired", []):
            manifest["retired"] = keep
            self._write_manifest(name, manifest)

    # ------------------------------------------------------------------ reading
    def _connection(self) -> Any:
        import duckdb

        if self._con is None:
            self._con = duckdb.connect()
        return self._con

    def _source_sql(self, name: str, manifest: dict[str, Any] | None = None) -> str:
        manifest = manifest if manifest is not None else self._manifest(name)
        spec = self.spec(name)
        d = self._dir(name)
        files = [str(d / s["file"]) for s in manifest["segments"]]
        cols = ", ".join(spec.table.names)
        if not files:
            # an empty relation with the declared columns
            typed = ", ".join(f"CAST(NULL AS {_duck_type(c.arrow_type)}) AS {c.name}" for c in spec.table.columns)
            return f"(SELECT {typed} WHERE false)"
        flist = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        src = f"read_parquet([{flist}], union_by_name=true, filename=true)"
        if manifest.get("replaced"):
            keys = ", ".join(spec.key)
            return (
                f"(SELECT {cols} FROM {src} QUALIFY row_number() OVER (PARTITION BY {keys} "
                f"ORDER BY filename DESC) = 1)"
            )
        return f"(SELECT {cols} FROM {src})"

    def _read_arrow(self, name: str, where: str = "", params: Sequence[Any] = (), manifest: dict[str, Any] | None = None, order: str = "") -> pa.Table:
        con = self._connection()
        for attempt in range(3):
            sql = f"SELECT * FROM {self._source_sql(name, manifest)} t {where} {order}"
            try:
                return con.sql(sql, params=list(params) or None).to_arrow_table()
            except Exception as e:  # a segment retired between manifest read and file read
                if ("No files found" in str(e) or "No such file" in str(e)) and attempt < 2:
                    manifest = None
                    continue
                raise
        raise RuntimeError("unreachable")

    def read(self, name: str, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """Table ``name`` as a DataFrame, optionally filtered by a SQL ``WHERE`` clause.

        Example:
            >>> Store("/tmp/empty-store").read("labels").shape[0]
            0
        """
        if where and not where.strip().upper().startswith("WHERE"):
            where = "WHERE " + where
        data = self._read_arrow(name, where, params)
        if data.num_rows == 0 and data.num_columns == 0:
            data = self.spec(name).table.arrow_schema.empty_table()
        return from_arrow(data, self.spec(name).table)

    def spans(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        kind: str | Sequence[str] | None = None,
        model: str | Sequence[str] | None = None,
        session_id: str | Sequence[str] | None = None,
        user_id: str | Sequence[str] | None = None,
        tags: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        trace_id: str | Sequence[str] | None = None,
        source_format: str | Sequence[str] | None = None,
        whole_traces: bool = False,
        limit: int | None = None,
        lazy: bool = False,
    ) -> Any:
        """Stored spans (one row per span), filtered; ``whole_traces=True`` returns every span
        of each trace that has a matching span.

        ``lazy=True`` returns a DuckDB relation instead of a DataFrame: nothing is read until it is
        consumed, so selecting columns, filtering and aggregating happen in DuckDB over the
        Parquet segments (``.df()``, ``.arrow()`` or ``.fetch_record_batch()`` to materialise).
        Nested columns are DuckDB lists/structs and JSON text there. The relation is unordered
        (an aggregate then needs no sort): add ``.order("start_time, trace_id, span_id")`` for the
        eager frame's order; with ``limit`` it is ordered like the eager frame.

        Example:
            >>> Store("/tmp/empty-store").spans(kind="llm", status="error").shape[0]
            0
            >>> rel = Store("/tmp/empty-store").spans(lazy=True, kind="llm")
            >>> rel.aggregate("count(*) AS n").fetchall()
            [(0,)]
        """
        clauses: list[str] = []
        params: list[Any] = []
        if start is not None:
            clauses.append("start_time >= ?")
            params.append(pd.Timestamp(start, tz="UTC") if pd.Timestamp(start).tzinfo is None else pd.Timestamp(start))
        if end is not None:
            clauses.append("start_time < ?")
            params.append(pd.Timestamp(end, tz="UTC") if pd.Timestamp(end).tzinfo is None else pd.Timestamp(end))
        for col, val, valid in (
            ("kind", kind, SPAN_KINDS),
            ("status", status, SPAN_STATUSES),
            ("model", model, None),
            ("session_id", session_id, None),
            ("user_id", user_id, None),
            ("trace_id", trace_id, None),
            ("source_format", source_format, None),
        ):
            if val is None:
                continue
            vals = [val] if isinstance(val, str) else list(val)
            if valid is not None:
                bad = [v for v in vals if v not in valid]
                if bad:
                    raise ValueError(f"{col}={bad!r} is not valid; valid values: {list(valid)}")
            clauses.append(f"{col} IN ({', '.join('?' for _ in vals)})")
            params.extend(vals)
        if tags is not None:
            vals = [tags] if isinstance(tags, str) else list(tags)
            clauses.append(f"list_has_any(tags, [{', '.join('?' for _ in vals)}]::VARCHAR[])")
            params.extend(vals)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        if whole_traces and where:
            where = f"WHERE trace_id IN (SELECT trace_id FROM {self._source_sql('spans')} s {where})"
        order = "ORDER BY start_time, trace_id, span_id"
        if limit is not None:
            order += f" LIMIT {int(limit)}"
        if lazy:  # unordered unless limited: an ORDER BY under an aggregate costs DuckDB a full sort
            lazy_order = order if limit is not None else ""
            sql = f"SELECT * FROM {self._source_sql('spans')} t {where} {lazy_order}"
            return self._connection().sql(sql, params=params or None)
        data = self._read_arrow("spans", where, params, order=order)
        return from_arrow(data, SPANS)

    def traces(self, **filters: Any) -> pd.DataFrame:
        """Stored traces (one row per trace) having a span that matches ``filters``
        (the same as :meth:`spans`).
        """
        from llmops_nb.traces import to_traces

        return to_traces(self.spans(whole_traces=True, **filters))

    def results(self, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """Stored evaluation results (one row per item and evaluator output)."""
        return self.read("results", where, params)

    def labels(self, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """Every human decision (one row per decision, append-only): the labels table plus the
        decisions of running annotation sessions still in their logs, each once. The same rows
        as ``lo.labels(store, history=True)``; ``where`` filters both (SQL over LABELS columns).

        Example:
            >>> import tempfile
            >>> Store(tempfile.mkdtemp()).labels().shape[0]
            0
        """
        from llmops_nb.store._label_logs import pending_labels

        pending = pending_labels(self)  # logs first, then the table: a row moving meanwhile is seen
        table = self.read("labels", where, params)
        if not len(pending):
            return table
        stored = table if not where else self.read("labels", "label_id IN (SELECT unnest(?))",
                                                   [pending["label_id"].tolist()])
        pending = pending[~pending["label_id"].isin(set(stored["label_id"]))]
        if where and len(pending):
            import duckdb

            con = duckdb.connect()
            con.register("labels", to_arrow(pending, LABELS))
            clause = where if where.strip().upper().startswith("WHERE") else "WHERE " + where
            keep = set(con.execute(f"SELECT label_id FROM labels {clause}", list(params)).df()["label_id"])
            pending = pending[pending["label_id"].isin(keep)]
        if not len(pending):
            return table
        if not len(table):
            return pending.reset_index(drop=True)
        return pd.concat([table, pending], ignore_index=True)

    def label_log(self, annotator: str) -> Any:
        """A new session log of ``annotator``'s decisions (fsynced appends, moved into the labels
        table by :meth:`flush_label_logs` or when the session ends).

        Example:
            >>> import tempfile
            >>> log = Store(tempfile.mkdtemp()).label_log("ann"); log.pending
            0
        """
        from llmops_nb.store._label_logs import LabelLog

        return LabelLog(self, annotator)

    def flush_label_logs(self) -> int:
        """Move the logs of annotation sessions that are gone (a killed kernel) into the labels
        table; returns the rows moved.

        Example:
            >>> import tempfile
            >>> Store(tempfile.mkdtemp()).flush_label_logs()
            0
        """
        from llmops_nb.store._label_logs import flush_stale_logs

        return flush_stale_logs(self)

    def label_logs_signature(self, exclude: Any = None) -> tuple[tuple[str, int], ...]:
        """(file, size) of every pending label log but ``exclude``: changes whenever someone decides.

        Example:
            >>> import tempfile
            >>> Store(tempfile.mkdtemp()).label_logs_signature()
            ()
        """
        from llmops_nb.store._label_logs import wal_signature

        return wal_signature(self, exclude)

    def sql(self, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run SQL (DuckDB dialect) over views named after the tables (``spans``, ``results``,
        ``labels``, ...). JSON columns are JSON text here.

        Example:
            >>> Store("/tmp/empty-store").sql("SELECT count(*) AS n FROM spans")["n"].tolist()
            [0]
        """
        con = self._connection()
        for name in self._specs:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {self._source_sql(name)}")
        return con.execute(query, list(params)).df()

    def query(self, query: str, params: Sequence[Any] = ()) -> Any:
        """Like :meth:`sql`, but lazy: a DuckDB relation over the table views (``spans``,
        ``results``, ``labels``...), run only when consumed: ``.df()`` for pandas, ``.arrow()``
        for an Arrow table, ``.fetch_record_batch(n)`` for an Arrow reader of ``n``-row batches.
        The relation reads the segments stored when it was made (rows added later are not in it).

        Example:
            >>> rel = Store("/tmp/empty-store").query("SELECT kind, count(*) AS n FROM spans GROUP BY kind")
            >>> rel.columns
            ['kind', 'n']
        """
        # the tables as common table expressions of this query (not shared views): the relation
        # keeps reading the segments it was made over, whatever is queried later
        ctes = ", ".join(f"{name} AS (SELECT * FROM {self._source_sql(name)})" for name in self._specs)
        head = query.lstrip()
        m = re.match(r"(?is)with(\s+recursive)?\s", head)
        if m:
            full = f"WITH{m.group(1) or ''} {ctes}, {head[m.end():]}"
        else:
            full = f"WITH {ctes} {head}"
        return self._connection().sql(full, params=list(params) or None)

    # ------------------------------------------------------------------ small state
    def get_state(self, key: str, default: Any = None) -> Any:
        """A small JSON value kept in the store (watermarks, settings)."""
        p = self.path / "state.json"
        try:
            return orjson.loads(p.read_bytes()).get(key, default)
        except FileNotFoundError:
            return default

    def set_state(self, key: str, value: Any) -> None:
        """Set a small JSON value atomically (read-modify-write under the writer lock).

        Example:
            >>> import tempfile
            >>> st = Store(tempfile.mkdtemp()); st.set_state("watermark", 3); st.get_state("watermark")
            3
        """
        self.update_state(key, lambda _old: value)

    def update_state(self, key: str, update: Callable[[Any], Any], default: Any = None) -> Any:
        """Replace the small JSON value ``key`` by ``update(current)`` under the writer lock (no
        lost update when several processes change it); returns the new value.

        Example:
            >>> import tempfile
            >>> st = Store(tempfile.mkdtemp())
            >>> st.update_state("tags", lambda t: {**t, "prod": 2}, default={})
            {'prod': 2}
        """
        with self._lock():
            p = self.path / "state.json"
            try:
                state = orjson.loads(p.read_bytes())
            except FileNotFoundError:
                state = {}
            value = update(state.get(key, default))
            state[key] = value
            _atomic_write_bytes(p, orjson.dumps(state, default=str))
            return value


def as_store(store: Store | str | os.PathLike[str] | None = None) -> Store:
    """The one way to get a store from an argument: a :class:`Store` as is, a folder path, or
    None for the default store (``$LLMOPS_NB_HOME`` or ``./.llmops``).

    Example:
        >>> import tempfile
        >>> st = Store(tempfile.mkdtemp())
        >>> as_store(st) is st, as_store(str(st.path)).path == st.path
        (True, True)
        >>> as_store(42)
        Traceback (most recent call last):
        TypeError: store must be a Store, a folder path or None, not int (42)
    """
    if isinstance(store, Store):
        return store
    if store is None or isinstance(store, (str, os.PathLike)):
        return Store(store)
    if hasattr(store, "labels") and hasattr(store, "add") and hasattr(store, "path"):  # a Store-like object
        return store  # type: ignore[return-value]
    raise TypeError(f"store must be a Store, a folder path or None, not {type(store).__name__} ({store!r})")


_WRITE_CONS = threading.local()


@contextlib.contextmanager
def _write_connection() -> Iterator[Any]:
    """This thread's DuckDB connection for the key checks of a write (one per thread and process:
    a new in-memory database costs milliseconds a write); what a write registers is dropped after it."""
    import duckdb

    held = getattr(_WRITE_CONS, "con", None)
    if held is None or held[0] != os.getpid():
        held = _WRITE_CONS.con = (os.getpid(), duckdb.connect())
    con = held[1]
    try:
        yield con
    finally:
        for name in ("new_rows", "batch", "maybe"):
            with contextlib.suppress(Exception):
                con.unregister(name)
        with contextlib.suppress(Exception):
            con.execute("DROP VIEW IF EXISTS __seg")


def _key_hashes(con: Any, relation: str, key: Sequence[str]) -> Any:
    """The 64-bit hashes of each row's key (numpy uint64, in row order)."""
    sql = _HASH_SQL.format(cols=", ".join(key))
    return con.execute(f"SELECT {sql} AS h FROM {relation}").fetchnumpy()["h"].astype("uint64", copy=False)


_PROBE: list[int] = []


def _hash_probe() -> int:
    """The hash of a fixed value: a key file made by another hash function (another DuckDB) differs."""
    if not _PROBE:
        import duckdb

        con = duckdb.connect()
        _PROBE.append(int(con.execute(f"SELECT {_HASH_SQL.format(cols=repr('llmops_nb') + ', 42')}").fetchall()[0][0]))
        con.close()
    return _PROBE[0]


def _write_keys(d: Path, seg: str, hashes: Any) -> Any:
    """Write the key index of segment ``seg`` (sorted unique hashes; header: magic, hash probe,
    count) atomically; returns the sorted hashes."""
    import numpy as np

    keys = np.unique(np.asarray(hashes, dtype=np.uint64))
    (d / KEYS).mkdir(parents=True, exist_ok=True)
    path = d / KEYS / f"{seg}.keys"
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(_KEYS_MAGIC + np.array([_hash_probe(), len(keys)], dtype=np.uint64).tobytes())
        f.write(keys.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return keys


def _read_keys(path: Path) -> Any:
    """The sorted hashes of a key index file (memory-mapped), or None when it is missing, not
    whole, or made by another hash function."""
    import numpy as np

    head = len(_KEYS_MAGIC) + 16
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(head)
    except FileNotFoundError:
        return None
    if len(raw) != head or raw[:len(_KEYS_MAGIC)] != _KEYS_MAGIC:
        return None
    probe, n = (int(x) for x in np.frombuffer(raw[len(_KEYS_MAGIC):], dtype=np.uint64))
    if probe != _hash_probe() or size != head + 8 * n:
        return None
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    if n > _MMAP_KEYS:  # a big segment's index is mapped (pages of the file, not the process's memory)
        return np.memmap(path, dtype=np.uint64, mode="r", offset=head, shape=(n,))
    return np.fromfile(path, dtype=np.uint64, offset=head, count=n)


def _contains(sorted_keys: Any, hashes: Any) -> Any:
    """For each hash (sorted too, for speed), whether it is in ``sorted_keys`` (a boolean array)."""
    import numpy as np

    if len(sorted_keys) == 0 or len(hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    i = np.searchsorted(sorted_keys, hashes)
    i[i == len(sorted_keys)] = 0
    return np.asarray(sorted_keys[i] == hashes)


_DUCK_TYPES: dict[str, str] = {}


def _duck_type(t: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type (computed once per type)."""
    key = str(t)
    if key not in _DUCK_TYPES:
        import duckdb

        con = duckdb.connect()
        con.register("x", pa.table({"c": pa.nulls(0, t)}))
        _DUCK_TYPES[key] = str(con.sql("SELECT c FROM x").types[0])
        con.close()
    return _DUCK_TYPES[key]
