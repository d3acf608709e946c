"""Examples schema versions: every version records the layout it was written with, and older
layouts are upgraded on read, one migration per step."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from llmops_nb.datasets._errors import DatasetError
from llmops_nb.datasets._location import _library_version

__all__ = ["SCHEMA_VERSION", "MIGRATIONS"]


SCHEMA_VERSION = 1
"""Version of the examples layout written with each dataset version (commit metadata)."""


def _migrate_v0(table: pa.Table) -> pa.Table:
    """A Delta table written by another tool (no llmops_nb metadata): map common column names
    (id, input, output, expected, ...) onto the examples layout and derive example ids."""
    aliases = {
        "id": "example_id", "input": "input_text", "question": "input_text", "prompt": "input_text",
        "output": "output_text", "answer": "output_text", "expected": "expected_output",
        "reference": "expected_output", "messages": "input_messages",
    }
    names = list(table.column_names)
    for old, new in aliases.items():
        if old in names and new not in names:
            names[names.index(old)] = new
    table = table.rename_columns(names)
    if "example_id" not in table.column_names:
        from llmops_nb.datasets._examples import example_id

        texts = [c for c in table.column_names if pa.types.is_string(table.schema.field(c).type)]
        rows = table.select(texts).to_pylist() if texts else [{} for _ in range(table.num_rows)]
        ids = [example_id(*[r.get(c) for c in texts], i if not texts else "") for i, r in enumerate(rows)]
        table = table.append_column("example_id", pa.array(ids, pa.string()))
    else:
        table = table.set_column(
            table.schema.get_field_index("example_id"), "example_id", table.column("example_id").cast(pa.string())
        )
    return table


MIGRATIONS: dict[int, Any] = {0: _migrate_v0}
"""Schema migrations: ``MIGRATIONS[v]`` turns an Arrow table of schema version ``v`` into ``v + 1``."""


def _upgrade(table: pa.Table, schema_version: int, where: str) -> pa.Table:
    if schema_version > SCHEMA_VERSION:
        raise DatasetError(
            f"{where} was written with examples schema version {schema_version}, newer than this "
            f"llmops_nb ({_library_version()}, schema {SCHEMA_VERSION}); upgrade llmops_nb to read it"
        )
    for v in range(schema_version, SCHEMA_VERSION):
        fn = MIGRATIONS.get(v)
        if fn is None:
            raise DatasetError(f"no migration from examples schema version {v} to {v + 1} (needed for {where})")
        table = fn(table)
    return table
