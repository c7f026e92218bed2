"""NDJSON codec: one compact JSON object per line, read and written in streams (sync and async).

Readers skip blank lines, accept a last line without a newline and fail loudly, naming the line
number, on invalid JSON or on a line that is not a JSON object.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import IO, Any

import orjson

from stripe_sync.protocol.errors import SyncError


class NDJSONError(SyncError):
    """A line of an NDJSON stream could not be decoded."""

    failure_type = "system_error"

    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"invalid NDJSON on line {line_number}: {reason}")
        self.line_number = line_number


def encode(message: dict[str, Any]) -> bytes:
    """Encode one message as a compact JSON line ending in ``\\n``."""
    return orjson.dumps(message) + b"\n"


def decode_line(line: bytes | str, line_number: int) -> dict[str, Any] | None:
    """Decode one line; ``None`` for a blank line."""
    if not line.strip():
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise NDJSONError(line_number, str(exc)) from None
    if not isinstance(value, dict):
        raise NDJSONError(line_number, f"expected a JSON object, got {type(value).__name__}")
    return value


def read_ndjson(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """Decode an iterable of lines (a file opened in binary or text mode works)."""
    for number, line in enumerate(lines, start=1):
        value = decode_line(line, number)
        if value is not None:
            yield value


async def aread_ndjson(chunks: AsyncIterable[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Decode an async stream of byte chunks split anywhere (HTTP bodies, pipes)."""
    pending = b""
    number = 0
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            value = decode_line(line, number)
            if value is not None:
                yield value
    if pending:
        value = decode_line(pending, number + 1)
        if value is not None:
            yield value


def write_ndjson(stream: IO[bytes], messages: Iterable[dict[str, Any]]) -> None:
    """Write messages to a binary stream, one line each."""
    for message in messages:
        stream.write(encode(message))
