"""Types of the native OTLP/JSON decoder (``_otlp_json.c``; see its header for what it returns)."""

from collections.abc import Callable
from typing import Any

Span = tuple[dict[str, Any], str, str, str | None, str | None, int | None, int | None, str, str | None, str | None]

def decode(
    data: bytes | bytearray | memoryview, kind_names: tuple[str | None, ...], bytes_value: Callable[[str], Any], /
) -> list[tuple[dict[str, Any], list[tuple[str | None, list[Span | None]]]]] | None: ...
