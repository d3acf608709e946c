"""Types of the native OTLP protobuf decoder (``_otlp_pb.c``; see its header for what it returns)."""

from typing import Any

Span = tuple[dict[str, Any], str, str, str | None, str, int | None, int | None, str, str | None, str | None]

def decode(
    data: bytes | bytearray, kind_names: tuple[str | None, ...], /
) -> tuple[list[tuple[dict[str, Any], list[tuple[str | None, list[Span | None]]]]], bool] | None: ...
