"""Exports of a version or a frame (JSONL, Parquet, CSV, OpenAI chat JSONL, a datasets folder)
and push_to_hub. PII redaction is on by default for everything that leaves the machine."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from llmops_nb._compat import renamed_argument
from llmops_nb.datasets._arrow import arrow_to_frame, frame_to_arrow
from llmops_nb.datasets._errors import DatasetError
from llmops_nb.datasets._location import resolve_storage
from llmops_nb.datasets._versions import _read
from llmops_nb.pii import RedactResult
from llmops_nb.pii import redact_frame as _redact

__all__ = ["export", "push_to_hub", "ExportReport", "FORMATS", "to_chat_messages"]

FORMATS = {
    "jsonl": "one JSON object per example",
    "parquet": "one Parquet file (nested columns kept; JSON columns as text)",
    "csv": "one CSV file (nested columns as JSON text)",
    "openai_chat": 'OpenAI-style chat JSONL: {"messages": [...input..., {"role": "assistant", ...}]}',
    "hf": "a Hugging Face datasets folder (save_to_disk; DatasetDict when there are splits)",
}
_ALIASES = {"json": "jsonl", "chat": "openai_chat", "chat_jsonl": "openai_chat", "openai": "openai_chat",
            "datasets": "hf", "hf_datasets": "hf", "pq": "parquet"}


@dataclass
class ExportReport:
    """What an export wrote: where, in which format, how many rows, and the PII redaction.

    Example:
        >>> import tempfile, os
        >>> df = pd.DataFrame({"example_id": ["a"], "input_text": ["hi"], "expected_output": ["hello"]})
        >>> rep = export(df, "jsonl", os.path.join(tempfile.mkdtemp(), "out.jsonl"), verbose=False)
        >>> rep.format, rep.n_rows
        ('jsonl', 1)
    """

    path: str
    format: str
    n_rows: int
    redacted: bool
    redaction: RedactResult | None = None
    skipped: int = 0
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        red = (self.redaction.summary() if self.redaction is not None else "PII redaction: on") if self.redacted \
            else "PII redaction: OFF (redact=False)"
        skip = f"; {self.skipped} rows skipped (no assistant target)" if self.skipped else ""
        src = f" from {self.source}" if self.source else ""
        return f"wrote {self.n_rows:,} examples{src} as {self.format} to {self.path}{skip}. {red}"

    def __repr__(self) -> str:
        return f"<ExportReport {self.summary()}>"

    def _repr_html_(self) -> str:
        return f"<div>{html.escape(self.summary())}</div>"


def _jsonable(v: Any) -> Any:
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    return v


def _row_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from llmops_nb.schema import none_if_missing

    out = []
    for rec in frame.to_dict("records"):
        out.append({k: (_jsonable(v) if isinstance(v, (pd.Timestamp, datetime))
                        else (v if isinstance(v, (list, dict)) else none_if_missing(v))) for k, v in rec.items()})
    return out


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)


def to_chat_messages(row: dict[str, Any], target: str = "expected_output", fallback: str | None = "output_text") -> list[dict[str, Any]] | None:
    """OpenAI chat messages of one example: its input messages (or a user message of its input
    text) then the assistant's ``target`` (``fallback`` when it is empty); None without one.

    Example:
        >>> to_chat_messages({"input_text": "hi", "expected_output": "hello"})
        [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]
    """
    msgs: list[dict[str, Any]] = []
    for m in row.get("input_messages") or []:
        d: dict[str, Any] = {"role": m.get("role") or "user", "content": m.get("content")}
        if m.get("tool_calls"):
            d["tool_calls"] = [
                {"id": tc.get("id"), "type": "function",
                 "function": {"name": tc.get("name"), "arguments": tc.get("arguments") or "{}"}}
                for tc in m["tool_calls"]
            ]
        if m.get("tool_call_id"):
            d["tool_call_id"] = m["tool_call_id"]
        msgs.append(d)
    if not msgs and row.get("input_text"):
        msgs.append({"role": "user", "content": row["input_text"]})
    answer = row.get(target) or (row.get(fallback) if fallback else None)
    if not msgs or not answer:
        return None
    return msgs + [{"role": "assistant", "content": answer}]


def _source_frame(data: Any, version: Any, tag: str | None, split: str | None, storage: Any) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        frame = data
        if split is not None:
            frame = frame[frame["split"] == split]
        return frame, "a frame", {}
    if isinstance(data, str):
        st = resolve_storage(storage)
        table, json_cols, v, meta = _read(data, tag if tag is not None else version, st)
        frame = arrow_to_frame(table, json_cols)
        if split is not None:
            if "split" not in frame.columns or split not in set(frame["split"].dropna()):
                raise DatasetError(f"{data}@v{v} has no split {split!r}")
            frame = frame[frame["split"] == split].reset_index(drop=True)
        return frame, f"{data}@v{v}", {"name": data, "version": v, "meta": meta, "uri": st.uri(data)}
    raise TypeError(f"export needs a dataset name or a DataFrame, got {type(data).__name__}")


@renamed_argument("storage", "store", "llmops_nb.datasets.export")
def export(
    data: str | pd.DataFrame,
    format: str,
    out: str | os.PathLike[str],
    *,
    version: int | str | None = None,
    tag: str | None = None,
    split: str | None = None,
    redact: bool = True,
    store: Any = None,
    columns: Sequence[str] | None = None,
    verbose: bool = True,
) -> ExportReport:
    """Write a dataset version (by name) or a frame to ``out`` in ``format``.

    Formats: ``jsonl``, ``parquet``, ``csv``, ``openai_chat`` (``{"messages": [...]}`` per line,
    the assistant turn from ``expected_output``, else ``output_text``) and ``hf`` (a
    ``datasets`` folder for ``load_from_disk``). PII is redacted by default (``redact=False``
    turns it off) and the report, printed when ``verbose``, says what was redacted.

    Example:
        >>> import pandas as pd, tempfile, os
        >>> df = pd.DataFrame({"example_id": ["a"], "input_text": ["mail ann@corp.io"], "expected_output": ["ok"]})
        >>> r = export(df, "jsonl", os.path.join(tempfile.mkdtemp(), "x.jsonl"), verbose=False)
        >>> r.n_rows, len(r.redaction.spans)
        (1, 1)
    """
    fmt = _ALIASES.get(format, format)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown export format {format!r}; formats: {', '.join(FORMATS)}")
    frame, source, _ = _source_frame(data, version, tag, split, store)
    if columns is not None:
        keep = ["example_id"] + [c for c in columns if c != "example_id"]
        missing = [c for c in keep if c not in frame.columns]
        if missing:
            raise KeyError(f"export(columns=...): {missing} not in the data; columns are {list(frame.columns)}")
        frame = frame[keep]
    red: RedactResult | None = None
    if redact:
        red = _redact(frame)
        frame = red.frame
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    skipped = 0
    n = len(frame)
    if fmt == "jsonl":
        with open(path, "wb") as f:
            for rec in _row_dicts(frame):
                f.write(_dumps(rec) + b"\n")
    elif fmt == "openai_chat":
        n = 0
        with open(path, "wb") as f:
            for rec in _row_dicts(frame):
                msgs = to_chat_messages(rec)
                if msgs is None:
                    skipped += 1
                    continue
                f.write(_dumps({"messages": msgs}) + b"\n")
                n += 1
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        table, _ = frame_to_arrow(frame)
        pq.write_table(table, path)
    elif fmt == "csv":
        flat = frame.copy()
        for c in flat.columns:
            if flat[c].dtype == object:
                flat[c] = flat[c].map(lambda v: _dumps(v).decode() if isinstance(v, (list, dict)) else v)
        flat.to_csv(path, index=False)
    elif fmt == "hf":
        from llmops_nb.datasets._versions import _to_hf

        table, _ = frame_to_arrow(frame)
        _to_hf(table).save_to_disk(str(path))
    report = ExportReport(str(path), fmt, n, redact, red, skipped, source)
    if verbose:
        print(report.summary())
    return report


@dataclass
class HubPushResult:
    """What :func:`push_to_hub` did: the repo, the commit and the tag it created.

    Example:
        >>> res = push_to_hub("support-gold", "me/support-gold")  # doctest: +SKIP
        >>> res.revision_tag  # doctest: +SKIP
        'v3'
    """

    repo_id: str
    commit_url: str | None
    commit_oid: str | None
    revision_tag: str | None
    n_rows: int
    message: str
    redaction: RedactResult | None

    def __repr__(self) -> str:
        red = self.redaction.summary() if self.redaction is not None else "PII redaction: OFF"
        return f"<HubPushResult {self.repo_id} {self.revision_tag or ''} {self.n_rows:,} rows, {self.message!r}. {red}>"


def _card(name: str, v: int, meta: dict[str, Any], splits: list[str], n: int, red: RedactResult | None) -> str:
    cfg = "\n".join(f"      - split: {s}\n        path: data/{s}-*.parquet" for s in splits)
    msg = str(meta.get("message") or "")
    author = meta.get("llmops_nb.author") or ""
    redaction = red.summary() if red is not None else "PII redaction was turned off for this push."
    return f"""---
configs:
  - config_name: default
    data_files:
{cfg}
tags:
  - llmops_nb
  - evaluation
---
# {name} (version {v})

{msg}

- examples: {n:,}; splits: {", ".join(splits)}
- saved by {author} with llmops_nb {meta.get("llmops_nb.library_version", "")}, examples schema {meta.get("llmops_nb.schema_version", "")}
- {redaction}

Each row is one example: input (`input_messages` / `input_text`), `expected_output` or `rubric`,
`labels`, `tags`, and its lineage (`source_trace_id`, `source_span_id`, `source_format`,
`label_ids`, `annotators`, `judges`, `judge_models`). JSON columns (`labels`, `results`,
`metadata`) are JSON text.
"""


@renamed_argument("storage", "store", "llmops_nb.datasets.push_to_hub")
def push_to_hub(
    name: str,
    repo_id: str,
    *,
    version: int | str | None = None,
    tag: str | None = None,
    token: str | None = None,
    private: bool = True,
    redact: bool = True,
    store: Any = None,
    endpoint: str | None = None,
    create_tag: bool = True,
    api: Any = None,
) -> HubPushResult:
    """Push a version to the Hugging Face Hub as a dataset repo (for users who are online).

    Builds a folder (``data/<split>-00000-of-00001.parquet``, a dataset card with the split
    config, ``llmops_nb.json`` with the lineage of the version), creates the repo if needed
    (private by default) and uploads it in one commit whose message is the version's message;
    then tags that commit ``<name>-v<version>``. PII is redacted first unless ``redact=False``.
    ``api`` may be an ``HfApi`` (tests pass a fake); ``endpoint`` a Hub mirror.

    Example:
        >>> push_to_hub("qa", "me/qa-tests", tag="gold")  # doctest: +SKIP
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    st = resolve_storage(store)
    table, json_cols, v, meta = _read(name, tag if tag is not None else version, st)
    frame = arrow_to_frame(table, json_cols)
    red: RedactResult | None = None
    if redact:
        red = _redact(frame)
        frame = red.frame
    table, _ = frame_to_arrow(frame)
    if api is None:
        from llmops_nb._optional import require

        hub = require("huggingface_hub", "push_to_hub")
        api = hub.HfApi(endpoint=endpoint, token=token)
    message = str(meta.get("message") or f"{name} v{v}")
    with tempfile.TemporaryDirectory(prefix="llmops_nb_hub_") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        if "split" in table.column_names and table.column("split").null_count < table.num_rows:
            splits = sorted({s for s in table.column("split").to_pylist() if s is not None})
            for s in splits:
                pq.write_table(table.filter(pc.equal(table.column("split"), s)), root / "data" / f"{s}-00000-of-00001.parquet")
            if table.column("split").null_count:
                splits.append("unassigned")
                pq.write_table(table.filter(pc.is_null(table.column("split"))), root / "data" / "unassigned-00000-of-00001.parquet")
        else:
            splits = ["train"]
            pq.write_table(table, root / "data" / "train-00000-of-00001.parquet")
        (root / "README.md").write_text(_card(name, v, meta, splits, table.num_rows, red), encoding="utf-8")
        lineage = {
            "dataset": name, "version": v, "message": message, "author": meta.get("llmops_nb.author"),
            "saved_at": datetime.fromtimestamp(meta["timestamp"] / 1000, tz=timezone.utc).isoformat() if meta.get("timestamp") else None,
            "library_version": meta.get("llmops_nb.library_version"),
            "schema_version": meta.get("llmops_nb.schema_version"), "source_uri": st.uri(name),
            "rows": table.num_rows, "redacted": redact,
            "redacted_spans": int(len(red.spans)) if red is not None else 0,
        }
        (root / "llmops_nb.json").write_bytes(orjson.dumps(lineage, option=orjson.OPT_INDENT_2))
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
        info = api.upload_folder(
            repo_id=repo_id, repo_type="dataset", folder_path=str(root), commit_message=message,
            commit_description=f"llmops_nb dataset {name} v{v}: {table.num_rows:,} examples", token=token,
        )
    oid = getattr(info, "oid", None)
    url = getattr(info, "commit_url", None)
    rev_tag = None
    if create_tag:
        rev_tag = f"{name}-v{v}"
        api.create_tag(repo_id, tag=rev_tag, tag_message=message, revision=oid, repo_type="dataset",
                       exist_ok=True, token=token)
    return HubPushResult(repo_id, url, oid, rev_tag, table.num_rows, message, red)
