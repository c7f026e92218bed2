"""What users of the SQLite and Postgres destinations notice, checked against both real databases:
typed tables, idempotent upserts, stale writes refused, deletes, confirmed states, schema evolution,
names, and the ``_sync_state`` store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.support.destinations import (
    CUSTOMER_SCHEMA,
    Target,
    catalog,
    customer,
    feed,
    global_state,
    of_type,
    record,
    state,
    stream,
    tombstone,
    totals,
)

from stripe_sync.destinations.layout import InvalidName
from stripe_sync.engine.state_commit import StateCommit


def rows_by_id(target: Target, columns: str = "id, email, _version, _deleted") -> dict[str, tuple]:
    rows = target.query(f"SELECT {columns} FROM {target.table('customers')}")
    return {row[0]: row[1:] for row in rows}


async def test_typed_columns_are_queryable_and_raw_data_drops_the_account(target: Target) -> None:
    await target.write([record(customer(n)) for n in range(3)])

    columns = target.columns("customers")
    assert columns[:2] == ["id", "_account_id"]
    assert columns[-4:] == ["_raw_data", "_version", "_synced_at", "_deleted"]
    assert {"email", "balance", "livemode", "metadata", "created", "created_at"} <= set(columns)
    matches = target.query(
        f"SELECT count(*) FROM {target.table('customers')} WHERE email LIKE %s", ("user1@%",)
    )
    assert matches == [(1,)]
    (balance, livemode, created_at, raw) = target.query(
        f"SELECT balance, livemode, created_at, _raw_data FROM {target.table('customers')} "
        "WHERE id = 'cus_2'"
    )[0]
    assert balance == 200 and not livemode
    assert str(created_at).startswith("2023-11-14") and "22:13:22" in str(created_at)
    expected = customer(2)
    del expected["_account_id"]
    assert (json.loads(raw) if isinstance(raw, str) else raw) == expected


async def test_writing_the_same_batch_twice_leaves_the_same_rows(target: Target) -> None:
    batch = [record(customer(n), version=1000 + n) for n in range(5)]
    first = await target.write(batch)
    before = target.query(f"SELECT * FROM {target.table('customers')} ORDER BY id")
    second = await target.write(batch)

    assert target.query(f"SELECT * FROM {target.table('customers')} ORDER BY id") == before
    assert totals(first) == {"inserted": 5, "updated": 0, "unchanged": 0, "deleted": 0}
    assert totals(second) == {"inserted": 0, "updated": 0, "unchanged": 5, "deleted": 0}


async def test_an_older_version_never_overwrites_a_newer_one(target: Target) -> None:
    await target.write([record(customer(1, email="v20@x"), version=20)])
    stale = await target.write([record(customer(1, email="v10@x"), version=10)])
    tie = await target.write([record(customer(1, email="tie@x"), version=20)])
    newer = await target.write([record(customer(1, email="v30@x"), version=30)])
    late = await target.write([record(customer(1, email="v25@x"), version=25)])

    assert totals(stale)["unchanged"] == 1
    assert totals(tie)["updated"] == 1  # ties: the incoming row wins
    assert totals(newer)["updated"] == 1
    assert totals(late)["unchanged"] == 1
    assert rows_by_id(target)["cus_1"][:2] == ("v30@x", 30)


async def test_duplicates_within_a_batch_keep_the_newest(target: Target) -> None:
    out = await target.write(
        [
            record(customer(1, email="new@x"), version=30),
            record(customer(1, email="old@x"), version=10),
            record(customer(2, email="first@x"), version=5),
            record(customer(2, email="second@x"), version=5),
        ]
    )
    rows = rows_by_id(target)
    assert rows["cus_1"][:2] == ("new@x", 30)
    assert rows["cus_2"][:2] == ("second@x", 5)
    assert totals(out)["inserted"] == 2


async def test_a_newer_version_with_the_same_data_counts_as_unchanged(target: Target) -> None:
    await target.write([record(customer(1), version=10)])
    again = await target.write([record(customer(1), version=20)])
    assert totals(again) == {"inserted": 0, "updated": 0, "unchanged": 1, "deleted": 0}
    assert rows_by_id(target)["cus_1"][1] == 20  # the version still moves on


async def test_a_missing_version_falls_back_to_emitted_at(target: Target) -> None:
    await target.write([record(customer(1), version=None)])
    (version,) = target.query(f"SELECT _version FROM {target.table('customers')}")[0]
    assert version == 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


async def test_soft_delete_marks_the_row_and_a_stale_tombstone_is_refused(target: Target) -> None:
    await target.write([record(customer(n), version=10) for n in (1, 2)])
    deleted = await target.write([tombstone(1, version=20), tombstone(2, version=5)])

    rows = rows_by_id(target)
    assert bool(rows["cus_1"][2]) is True and rows["cus_1"][0] == "user1@example.com"
    assert bool(rows["cus_2"][2]) is False
    assert totals(deleted) == {"inserted": 0, "updated": 0, "unchanged": 1, "deleted": 1}

    late = await target.write([record(customer(1, email="late@x"), version=15)])
    assert totals(late)["unchanged"] == 1 and bool(rows_by_id(target)["cus_1"][2]) is True


async def test_a_tombstone_for_an_unknown_object_keeps_a_late_update_out(target: Target) -> None:
    await target.write([tombstone(7, version=50)])
    await target.write([record(customer(7), version=40)])
    assert bool(rows_by_id(target)["cus_7"][2]) is True


async def test_hard_delete_removes_the_row_and_a_late_update_does_not_resurrect_it(
    target: Target,
) -> None:
    await target.write([record(customer(n), version=10) for n in (1, 2)], delete_mode="hard")
    deleted = await target.write([tombstone(1, version=20)], delete_mode="hard")
    late = await target.write([record(customer(1), version=15)], delete_mode="hard")

    assert set(rows_by_id(target)) == {"cus_2"}
    assert totals(deleted)["deleted"] == 1
    assert totals(late) == {"inserted": 0, "updated": 0, "unchanged": 1, "deleted": 0}

    stale = await target.write([tombstone(2, version=5)], delete_mode="hard")
    assert set(rows_by_id(target)) == {"cus_2"} and totals(stale)["unchanged"] == 1


async def test_states_are_confirmed_in_order_after_their_records(target: Target) -> None:
    messages = [
        record(customer(1)),
        state("customers", {"page": 1}),
        record(customer(2), stream="invoices"),
        global_state({"cursor": "evt_1"}),
        record(customer(3)),
        state("customers", {"page": 2}),
    ]
    out = await target.write(messages, catalog("customers", "invoices"))

    states = [m for m in out if m["type"] == "source_state"]
    assert states == [messages[1], messages[3], messages[5]]  # unchanged, in order
    for confirmed in states:
        assert any(m["type"] == "write_stats" for m in out[: out.index(confirmed)]), (
            "a state left before any batch was committed"
        )


async def test_an_interrupted_write_confirms_only_committed_records(target: Target) -> None:
    """Stop consuming mid-run: every confirmed state's records are in the table, later ones not."""
    pages = []
    for page in range(6):
        pages += [record(customer(page * 5 + i)) for i in range(5)]
        pages.append(state("customers", {"offset": page * 5 + 5}))
    confirmed: list[int] = []
    out = target.destination().write(target.config(batch_size=7), catalog(), feed(pages))
    async for message in out:
        if message["type"] == "source_state":
            confirmed.append(message["source_state"]["data"]["offset"])
            if len(confirmed) == 2:
                break
    await out.aclose()  # type: ignore[attr-defined]

    stored = {int(i.removeprefix("cus_")) for i in rows_by_id(target)}
    assert confirmed == [5, 10]
    assert set(range(confirmed[-1])) <= stored
    assert len(stored) < 30  # the rest was never written


async def test_a_quiet_source_still_gets_its_state_confirmed(target: Target) -> None:
    release = asyncio.Event()

    async def source() -> AsyncIterator[dict[str, Any]]:
        yield record(customer(1))
        yield state("customers", {"page": 1})
        await release.wait()

    out = target.destination().write(target.config(), catalog(), source())
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        async for message in out:
            seen.append(message)
            if message["type"] == "source_state":
                break
    release.set()
    await out.aclose()  # type: ignore[attr-defined]
    assert of_type(seen, "source_state") == [
        {"state_type": "stream", "stream": "customers", "data": {"page": 1}}
    ]


async def test_a_failing_stream_reports_a_stream_error_and_the_others_go_on(target: Target) -> None:
    target.query("SELECT 1")  # create the database file
    await target.destination().setup(target.config(), {"streams": []})
    foreign = target.table("invoices")
    if target.kind == "sqlite":
        target.query(f"CREATE TABLE {foreign} (id TEXT PRIMARY KEY)")
    else:
        import psycopg

        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {foreign} (id text PRIMARY KEY)")  # type: ignore[arg-type]

    out = await target.write(
        [
            record(customer(1), stream="invoices"),
            state("invoices", {"page": 1}),
            record(customer(2)),
            state("customers", {"page": 1}),
            global_state({"cursor": 1}),
        ],
        catalog("customers", "invoices"),
    )
    errors = of_type(out, "error")
    assert [(e["level"], e["stream"]) for e in errors] == [("stream", "invoices")]
    assert "not created by stripe-sync" in errors[0]["message"]
    assert of_type(out, "source_state") == [
        {"state_type": "stream", "stream": "customers", "data": {"page": 1}}
    ]
    assert set(rows_by_id(target)) == {"cus_2"}


async def test_a_record_without_its_primary_key_fails_only_its_stream(target: Target) -> None:
    broken = customer(1)
    del broken["_account_id"]
    out = await target.write(
        [record(broken), record(customer(2), stream="invoices")], catalog("customers", "invoices")
    )
    assert [e["stream"] for e in of_type(out, "error")] == ["customers"]
    assert target.query(f"SELECT id FROM {target.table('invoices')}") == [("cus_2",)]


async def test_schema_evolution_adds_columns_and_keeps_data(target: Target) -> None:
    await target.write([record(customer(1))])
    schema = json.loads(json.dumps(CUSTOMER_SCHEMA))
    schema["properties"]["phone"] = {"type": ["string", "null"]}
    schema["properties"]["trial_end"] = {"type": ["integer", "null"], "format": "unix-time"}
    evolved = {"streams": [stream("customers", schema)]}
    await target.write([record(customer(2, phone="+1", trial_end=1_800_000_000))], evolved)

    columns = target.columns("customers")
    assert {"phone", "trial_end", "trial_end_at", "email"} <= set(columns)
    rows = target.query(f"SELECT id, email, phone FROM {target.table('customers')} ORDER BY id")
    assert rows == [("cus_1", "user1@example.com", None), ("cus_2", "user2@example.com", "+1")]


async def test_keywords_are_quoted_and_bad_names_rejected(target: Target) -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "select": {"type": "string"}},
    }
    keyword = {"streams": [{**stream("order", schema)}]}
    data = {"id": "o_1", "select": "yes", "_account_id": "acct_1"}
    out = await target.write([record(data, stream="order")], keyword)
    assert not of_type(out, "error")
    assert target.query(f'SELECT "select" FROM {target.table("order")}') == [("yes",)]

    bad = {"streams": [stream('cus"; DROP TABLE x; --'), stream("with space")]}
    out = await target.write([record(customer(1), stream='cus"; DROP TABLE x; --')], bad)
    (error,) = of_type(out, "error")
    assert error["level"] == "stream" and error["failure_type"] == "config_error"
    assert "invalid stream name" in error["message"]
    with pytest.raises(InvalidName, match="invalid stream name"):
        await target.destination().setup(target.config(), bad)


async def test_setup_creates_every_table_and_teardown_drops_only_ours(target: Target) -> None:
    destination = target.destination()
    await destination.setup(target.config(), catalog("customers", "invoices"))
    await destination.setup(target.config(), catalog("customers", "invoices"))  # idempotent
    assert target.columns("invoices")[-4:] == ["_raw_data", "_version", "_synced_at", "_deleted"]
    assert "pipeline" in target.columns("_sync_state")

    await destination.teardown(target.config(), catalog("customers", "invoices"))
    assert target.columns("customers") == [] and target.columns("_sync_state") == []


async def test_check_reports_success(target: Target) -> None:
    status = await target.destination().check(target.config())
    assert status["status"] == "succeeded"


async def test_sync_state_round_trip(target: Target) -> None:
    destination = target.destination()
    store = destination.state_store(target.config())
    try:
        assert await store.load("default") is None  # nothing exists yet
        saved = {
            "source": {"streams": {"customers": {"remaining": []}}},
            "engine": {"pipeline": "default"},
        }
        await store.save("default", saved)
        await store.save("other", {"engine": {"pipeline": "other"}})
        assert await store.load("default") == saved
        saved["engine"]["mode"] = "live"
        await store.save("default", saved)
        assert await store.load("default") == saved
        assert await store.load("other") == {"engine": {"pipeline": "other"}}
    finally:
        await store.close()  # type: ignore[attr-defined]
    reopened = destination.state_store(target.config())
    try:
        assert (await reopened.load("default") or {})["engine"]["mode"] == "live"
    finally:
        await reopened.close()  # type: ignore[attr-defined]


async def test_a_batch_saves_its_streams_states_with_it_even_behind_a_waiting_global_state(
    target: Target,
) -> None:
    """Given a StateCommit, a committed batch carries the SyncState with its stream's states,
    also those the fence still holds back behind a global state that waits for another stream."""

    def state_after(confirmed: list[dict[str, Any]]) -> dict[str, Any]:
        return {"applied": [payload["data"] for payload in confirmed]}

    def saved() -> Any:
        rows = target.query(f"SELECT state FROM {target.table('_sync_state')}")
        (value,) = [row[0] for row in rows]
        return json.loads(value) if isinstance(value, str) else value

    go_on = asyncio.Event()

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        yield [record(customer(1)), record(customer(1), stream="invoices"), global_state("G")]
        yield [*(record(customer(n)) for n in range(2, 6)), state("customers", "S")]
        await go_on.wait()

    config = target.config(batch_size=5)
    both = catalog("customers", "invoices")
    commit = StateCommit("p", state_after)
    out: list[dict[str, Any]] = []
    writer = target.destination().write_batches(config, both, batches(), state_commit=commit)
    async for message in writer:
        out.append(message)
        if message["type"] == "write_stats" and message["write_stats"]["stream"] == "customers":
            # G waits for the invoice, which is still buffered: nothing is confirmed yet, but
            # the customers' state is saved with the customers' rows
            assert of_type(out, "source_state") == []
            assert saved() == {"applied": ["S"]}
            go_on.set()
    assert [s["data"] for s in of_type(out, "source_state")] == ["G", "S"]
    assert saved() == {"applied": ["G", "S"]}
