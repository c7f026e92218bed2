"""NDJSON codec: line handling, error reporting and streaming round trips (sync and async)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe_sync.protocol.ndjson import (
    NDJSONError,
    aread_ndjson,
    decode_line,
    encode,
    read_ndjson,
    write_ndjson,
)

MESSAGES: list[dict[str, Any]] = [
    {"type": "record", "record": {"stream": "customers", "data": {"id": "cus_1", "name": "Zoë"}}},
    {"type": "log", "log": {"level": "info", "message": "日本語のログ 🎉"}},
    {"type": "source_state", "source_state": {"stream": "customers", "data": {"cursor": None}}},
]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _aread(*parts: bytes) -> list[dict[str, Any]]:
    return [message async for message in aread_ndjson(_chunks(*parts))]


def _read(data: bytes) -> list[dict[str, Any]]:
    return list(read_ndjson(io.BytesIO(data)))


def test_encode_is_one_compact_utf8_line() -> None:
    assert encode({"a": 1, "b": [1, 2], "c": "é"}) == b'{"a":1,"b":[1,2],"c":"\xc3\xa9"}\n'


def test_encode_keeps_newlines_inside_strings_on_one_line() -> None:
    line = encode({"message": "two\nlines\r\u2028and more"})
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    assert decode_line(line, 1) == {"message": "two\nlines\r\u2028and more"}


def test_write_then_read_gives_the_messages_back() -> None:
    buffer = io.BytesIO()
    write_ndjson(buffer, MESSAGES)
    assert buffer.getvalue().count(b"\n") == len(MESSAGES)
    assert _read(buffer.getvalue()) == MESSAGES


def test_blank_lines_are_skipped() -> None:
    data = b'\n{"a":1}\n\n   \n\t\r\n{"b":2}\n\n'
    assert _read(data) == [{"a": 1}, {"b": 2}]


async def test_async_reader_skips_blank_lines() -> None:
    assert await _aread(b'\n{"a":1}\n\n  \r\n{"b":2}\n\n') == [{"a": 1}, {"b": 2}]


def test_crlf_line_endings_are_accepted() -> None:
    assert _read(b'{"a":1}\r\n{"b":2}\r\n') == [{"a": 1}, {"b": 2}]


def test_last_line_without_newline_is_accepted() -> None:
    assert _read(b'{"a":1}\n{"b":2}') == [{"a": 1}, {"b": 2}]


async def test_async_reader_accepts_last_line_without_newline() -> None:
    assert await _aread(b'{"a":1}\n{"b"', b":2}") == [{"a": 1}, {"b": 2}]


def test_text_mode_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "messages.ndjson"
    path.write_bytes(b"".join(encode(m) for m in MESSAGES))
    with path.open(encoding="utf-8") as handle:
        assert list(read_ndjson(handle)) == MESSAGES


def test_invalid_json_names_its_line_counting_blank_lines() -> None:
    data = b'{"a":1}\n\n{"b":2}\n{"c": oops}\n{"d":4}\n'
    reader = read_ndjson(io.BytesIO(data))
    assert next(reader) == {"a": 1}
    assert next(reader) == {"b": 2}
    with pytest.raises(NDJSONError, match="line 4") as caught:
        next(reader)
    assert caught.value.line_number == 4
    assert "\n" not in str(caught.value)


async def test_async_reader_names_the_line_of_invalid_json() -> None:
    with pytest.raises(NDJSONError, match="line 3") as caught:
        await _aread(b'{"a":1}\n\n{"c"', b": oops}\n", b'{"d":4}\n')
    assert caught.value.line_number == 3


async def test_async_reader_names_a_truncated_last_line() -> None:
    with pytest.raises(NDJSONError, match="line 2"):
        await _aread(b'{"a":1}\n{"b":', b"2")


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b"[1, 2]", "list"), (b'"customers"', "str"), (b"42", "int"), (b"null", "NoneType")],
)
def test_a_line_that_is_not_an_object_is_rejected(line: bytes, kind: str) -> None:
    with pytest.raises(NDJSONError, match=f"line 2: expected a JSON object, got {kind}"):
        _read(b'{"a":1}\n' + line + b"\n")


def test_invalid_utf8_is_an_ndjson_error() -> None:
    with pytest.raises(NDJSONError, match="line 1"):
        decode_line(b'{"name":"\xff"}', 1)


def test_decode_line_accepts_text_and_reports_blank_as_none() -> None:
    assert decode_line('{"a":"é"}\n', 7) == {"a": "é"}
    assert decode_line(" \n", 7) is None


async def test_async_reader_with_a_split_at_every_byte() -> None:
    data = b"".join(encode(m) for m in MESSAGES)
    assert any(byte >= 0x80 for byte in data)  # multi-byte UTF-8 characters are split too
    for position in range(len(data) + 1):
        assert await _aread(data[:position], data[position:]) == MESSAGES, position


async def test_async_reader_with_one_byte_chunks_and_empty_chunks() -> None:
    data = b"".join(encode(m) for m in MESSAGES)
    parts = [part for byte in data for part in (bytes([byte]), b"")]
    assert await _aread(*parts) == MESSAGES


# JSON values orjson can write: integers are 64-bit, floats finite; text excludes lone surrogates.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=6)


@given(st.lists(json_objects, max_size=5))
def test_round_trip_of_arbitrary_objects(messages: list[dict[str, Any]]) -> None:
    data = b"".join(encode(m) for m in messages)
    assert data.count(b"\n") == len(messages)
    assert _read(data) == messages


@given(st.lists(json_objects, max_size=5), st.data())
async def test_async_round_trip_with_arbitrary_chunking(
    messages: list[dict[str, Any]], data: st.DataObject
) -> None:
    encoded = b"".join(encode(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(encoded)), max_size=8)))
    parts = [encoded[start:end] for start, end in pairwise([0, *cuts, len(encoded)])]
    assert await _aread(*parts) == messages
