"""The database destinations take batches of messages (``write_batches``, what the engine hands
them) with the same outcome as one message at a time, and SQLite's page size for new files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from tests.support.destinations import (
    CUSTOMER_SCHEMA,
    Target,
    catalog,
    customer,
    of_type,
    record,
    state,
    stream,
    tombstone,
    totals,
)

from stripe_sync.destinations.errors import DestinationError

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


async def test_a_new_sqlite_file_gets_16k_pages_and_an_old_one_keeps_its_own(tmp_path) -> None:
    new = Target("sqlite", f"sqlite:///{tmp_path / 'new.db'}")
    await new.write([record(customer(1)), state("customers", 1)])
    assert new.query("PRAGMA page_size") == [(16384,)]

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE unrelated (x)")
    old = Target("sqlite", f"sqlite:///{path}")
    out = await old.write([record(customer(1)), state("customers", 1)])
    assert totals(out)["inserted"] == 1
    assert old.query("PRAGMA page_size") == [(4096,)]
    assert old.query("SELECT count(*) FROM customers") == [(1,)]


async def test_setup_creates_new_tables_and_evolves_old_ones_in_one_pass(target: Target) -> None:
    await target.write([record(customer(1)), state("customers", 1)])
    schema = json.loads(json.dumps(CUSTOMER_SCHEMA))
    schema["properties"]["phone"] = {"type": ["string", "null"]}
    evolved = {"streams": [stream("customers", schema), stream("invoices"), stream("charges")]}
    destination = target.destination()
    await destination.setup(target.config(), evolved)
    assert "phone" in target.columns("customers")
    assert target.query(f"SELECT id FROM {target.table('customers')}") == [("cus_1",)]
    for name in ("invoices", "charges"):
        assert target.columns(name)[-4:] == ["_raw_data", "_version", "_synced_at", "_deleted"]

    create = f"CREATE TABLE {target.table('foreign_rows')} (id TEXT)"
    if target.kind == "sqlite":
        target.query(create)
    else:
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(create)
    with pytest.raises(DestinationError, match="not created by stripe-sync"):
        await destination.setup(target.config(), {"streams": [stream("foreign_rows")]})


async def test_sqlite_batches_of_any_size_are_staged_whole(tmp_path) -> None:
    """Staging goes 100 rows a statement and the rest one by one: no row lost or doubled."""
    target = Target("sqlite", f"sqlite:///{tmp_path / 'sizes.db'}")
    written = 0
    for size in (1, 99, 100, 101, 250, 1000):
        given = [record(customer(written + n)) for n in range(size)]
        out = await target.write([*given, state("customers", size)], batch_size=1000)
        written += size
        assert totals(out)["inserted"] == size
    assert target.query("SELECT count(*) FROM customers") == [(written,)]
