"""The database destinations take batches of messages (``write_batches``, what the engine hands
them) with the same outcome as one message at a time, and SQLite's page size for new files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from tests.support.destinations import (
    Target,
    catalog,
    customer,
    of_type,
    record,
    state,
    tombstone,
    totals,
)

Message = dict[str, Any]


def messages() -> list[Message]:
    """Two streams, updates, a stale record, tombstones and states, across several batches."""
    out: list[Message] = []
    for n in range(25):
        out.append(record(customer(n)))
        out.append(record(customer(n, email=f"i{n}@example.com"), stream="invoices"))
        if n % 6 == 5:
            out.append(state("customers", {"page": n}))
    out += [
        record(customer(3, email="new@example.com"), version=2000),  # an update
        record(customer(4), version=500),  # stale
        record(customer(5), version=3000),  # same content, newer version
        tombstone(6, 3000),
        tombstone(99, 3000),  # never stored
        state("customers", {"page": "last"}),
        state("invoices", {"page": "last"}),
    ]
    return out


async def batched(items: list[Message], size: int) -> AsyncIterator[list[Message]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_rows(target: Target, table: str, schema: str = "stripe") -> dict[str, tuple]:
    rows = target.query(
        f"SELECT id, email, _version, _deleted, _raw_data FROM {target.table(table, schema)}"
    )
    return {row[0]: (row[1], row[2], bool(row[3]), _json(row[4])) for row in rows}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def test_batches_and_single_messages_write_the_same(target: Target, tmp_path) -> None:
    given = messages()
    one_by_one = await target.write(given, catalog("customers", "invoices"), batch_size=10)
    expected = {t: table_rows(target, t) for t in ("customers", "invoices")}

    # the same messages in batches of 7, into a fresh file or schema
    other = Target("sqlite", f"sqlite:///{tmp_path / 'batched.db'}")
    options: dict[str, Any] = {"batch_size": 10}
    if target.kind == "postgres":
        other, options["schema"] = target, "batched"
    out = [
        m
        async for m in other.destination().write_batches(
            other.config(**options), catalog("customers", "invoices"), batched(given, 7)
        )
    ]
    assert of_type(out, "source_state") == of_type(one_by_one, "source_state")
    assert (
        totals(out)
        == totals(one_by_one)
        == {
            "inserted": 50,
            "updated": 1,
            "unchanged": 2,
            "deleted": 2,  # a tombstone of an object never stored inserts a deleted row
        }
    )
    schema = options.get("schema", "stripe")
    assert {t: table_rows(other, t, schema) for t in ("customers", "invoices")} == expected


async def test_a_new_sqlite_file_gets_32k_pages_and_an_old_one_keeps_its_own(tmp_path) -> None:
    new = Target("sqlite", f"sqlite:///{tmp_path / 'new.db'}")
    await new.write([record(customer(1)), state("customers", 1)])
    assert new.query("PRAGMA page_size") == [(32768,)]

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE unrelated (x)")
    old = Target("sqlite", f"sqlite:///{path}")
    out = await old.write([record(customer(1)), state("customers", 1)])
    assert totals(out)["inserted"] == 1
    assert old.query("PRAGMA page_size") == [(4096,)]
    assert old.query("SELECT count(*) FROM customers") == [(1,)]
