"""The pipeline store on SQLite and Postgres: migrations, versions, progress, runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.sealing import (
    KEY_ENV,
    Sealer,
    StoreKeyError,
    dev_sealer,
    load_sealer,
    new_key,
)
from stripe_sync.service.store import (
    InboxFull,
    PipelineNotFound,
    PipelineStore,
    StoredStateStore,
    VersionConflict,
    open_store,
)

SPEC = {
    "name": "shop",
    "source": {"type": "test", "config": {"streams": {"customers": {"records": 3}}}},
    "destination": {"type": "sqlite", "config": {"url": "sqlite:////tmp/x.db"}},
}


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> PipelineStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'pipelines.db'}"
    else:
        url = request.getfixturevalue("postgres_db_url")
    store = open_store(url, Sealer([new_key()]))
    await store.migrate()
    return store


async def test_migrate_is_idempotent_and_safe_to_run_at_once(store: PipelineStore):
    versions = await asyncio.gather(*(store.migrate() for _ in range(4)))
    assert set(versions) == {4}


async def test_create_get_list_delete(store: PipelineStore):
    created = await store.create(SPEC)
    assert created.id.startswith("pl_") and created.version == 1
    assert created.desired_status == "active"
    fetched = await store.get(created.id)
    assert fetched == created
    assert fetched.spec["destination"]["config"]["url"] == "sqlite:////tmp/x.db"  # kept in clear
    other = await store.create({**SPEC, "name": "other"})
    assert [p.id for p in await store.all()] == [created.id, other.id]
    await store.save_progress(created.id, {"catalog": ["customers"]})
    await store.save_run(created.id, "run_1", {"id": "run_1", "started_at": "2026-01-01"})
    await store.save_state(created.id, {"engine": {}})
    await store.delete(created.id)
    with pytest.raises(PipelineNotFound):
        await store.get(created.id)
    assert await store.progress(created.id) is None
    assert await store.runs(created.id) == []
    assert await store.load_state(created.id) is None


async def test_the_engine_pipeline_is_named_by_the_id(store: PipelineStore):
    created = await store.create(SPEC)
    assert created.engine_pipeline().name == created.id


async def test_updates_check_the_version(store: PipelineStore):
    created = await store.create(SPEC)
    renamed = await store.update(created.id, expected_version=1, spec={**SPEC, "name": "renamed"})
    assert renamed.version == 2 and renamed.spec["name"] == "renamed"
    with pytest.raises(VersionConflict) as conflict:
        await store.update(created.id, expected_version=1, desired_status="paused")
    assert conflict.value.current == 2
    paused = await store.update(created.id, expected_version=None, desired_status="paused")
    assert (paused.version, paused.desired_status, paused.spec["name"]) == (3, "paused", "renamed")
    with pytest.raises(PipelineNotFound):
        await store.update("pl_missing", expected_version=None, desired_status="paused")


async def test_concurrent_updates_of_one_version_let_exactly_one_win(store: PipelineStore):
    created = await store.create(SPEC)
    results = await asyncio.gather(
        *(
            store.update(created.id, expected_version=1, spec={**SPEC, "name": f"n{i}"})
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, Exception))
    assert (await store.get(created.id)).version == 2


async def test_progress_and_runs(store: PipelineStore):
    created = await store.create(SPEC)
    assert await store.progress(created.id) is None
    await store.save_progress(created.id, {"catalog": ["a"], "progress": None})
    await store.save_progress(created.id, {"catalog": ["a", "b"], "progress": {"record_count": 3}})
    assert await store.progress(created.id) == {
        "catalog": ["a", "b"],
        "progress": {"record_count": 3},
    }
    for number in range(3):
        run: dict[str, Any] = {
            "id": f"run_{number}",
            "started_at": f"2026-01-0{number + 1}",
            "reason": None,
        }
        await store.save_run(created.id, run["id"], run)
    await store.save_run(
        created.id, "run_2", {"id": "run_2", "started_at": "2026-01-03", "reason": "complete"}
    )
    runs = await store.runs(created.id, limit=2)
    assert [(r["id"], r["reason"]) for r in runs] == [("run_2", "complete"), ("run_1", None)]


def test_store_urls():
    sealer = Sealer([new_key()])
    with pytest.raises(ConfigError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://x", sealer)
    with pytest.raises(ConfigError, match="service dev"):
        open_store("sqlite:///x.db", sealer, allow_sqlite=False)
    assert open_store("postgres://u@h/db", sealer).dialect == "postgres"


SECRET_SPEC = {
    **SPEC,
    "source": {"type": "stripe", "config": {"api_key": "sk_test_sealed4242"}},
    "destination": {"type": "postgres", "config": {"url": "postgresql://u:dbpass9876@h/db"}},
}


def raw_text(store: PipelineStore) -> str:
    """Every row of every table of the store, as its database holds it."""
    with store._connection() as conn:
        if store.dialect == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        tables = [row[0] for row in conn.execute(query).fetchall()]
        return repr([conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables])


async def test_secrets_are_sealed_at_rest(store: PipelineStore):
    created = await store.create(SECRET_SPEC)
    await store.update(created.id, expected_version=1, spec={**SECRET_SPEC, "name": "renamed"})
    assert (await store.get(created.id)).spec["source"]["config"]["api_key"] == "sk_test_sealed4242"
    text = raw_text(store)
    assert "renamed" not in text  # the whole spec is sealed
    for secret in ("sk_test_sealed4242", "dbpass9876"):
        assert secret not in text


async def test_keys_rotate_and_a_missing_key_is_named(store: PipelineStore):
    old, new = new_key(), new_key()
    created = await open_store(store.url, Sealer([old])).create(SECRET_SPEC)
    with pytest.raises(StoreKeyError):
        await open_store(store.url, Sealer([new])).get(created.id)
    rotating = open_store(store.url, Sealer.from_text(f"# new first\n{new}\n{old}\n", "f"))
    assert await rotating.reseal() == 1
    assert (await open_store(store.url, Sealer([new])).get(created.id)).spec == SECRET_SPEC
    with pytest.raises(StoreKeyError, match="none of this process's store keys"):
        await open_store(store.url, Sealer([old])).get(created.id)


async def test_clear_specs_of_an_older_store_are_sealed_at_migrate(store: PipelineStore):
    with store._connection() as conn:
        conn.execute(
            store._sql("INSERT INTO pipelines VALUES (%s, %s, %s, %s, %s, %s)"),
            ("pl_old", orjson.dumps(SECRET_SPEC).decode(), "active", 1, "t", "t"),
        )
    await store.migrate()
    assert "sk_test_sealed4242" not in raw_text(store)
    assert (await store.get("pl_old")).spec == SECRET_SPEC


def test_key_files_and_variables(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="STRIPE_SYNC_STORE_KEY or --store-key-file"):
        load_sealer(None)
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(ConfigError, match="key 1 is not a Fernet key"):
        load_sealer(None)
    key_file = tmp_path / "keys"
    key_file.write_text(f"{new_key()}\n\n{new_key()}\n")
    assert load_sealer(key_file).unseal(load_sealer(key_file).seal("x")) == "x"
    monkeypatch.delenv(KEY_ENV)
    data_dir = tmp_path / "dev"
    data_dir.mkdir()
    first = dev_sealer(None, data_dir)
    assert (data_dir / "store.key").stat().st_mode & 0o777 == 0o600
    assert dev_sealer(None, data_dir).unseal(first.seal("kept")) == "kept"


async def test_states_for_destinations_without_a_store(store: PipelineStore):
    states = StoredStateStore(store)
    assert await states.load("pl_1") is None
    await states.save("pl_1", {"engine": {"sync_run_id": "a"}})
    await states.save("pl_1", {"engine": {"sync_run_id": "b"}})
    await states.save("pl_2", {"engine": {"sync_run_id": "c"}})
    assert await states.load("pl_1") == {"engine": {"sync_run_id": "b"}}


async def test_accounts_of_a_pipeline_have_rows_of_their_own(store: PipelineStore):
    created = await store.create(SPEC)
    other = await store.create(SPEC)
    child, sibling = f"{created.id}/acct_1", f"{created.id}/acct_2"
    for key in (created.id, child, sibling, other.id, f"{other.id}/acct_1"):
        await store.save_run(key, f"run_{key}", {"id": key, "started_at": "2026-01-01"})
        await store.save_progress(key, {"catalog": [key]})
        await store.save_state(key, {"engine": {"sync_run_id": key}})
    assert {run["id"] for run in await store.runs(created.id)} == {created.id, child, sibling}

    await store.forget_account(created.id, "acct_1")
    assert await store.load_state(child) is None and await store.progress(child) is None
    assert {run["id"] for run in await store.runs(created.id)} == {created.id, sibling}

    await store.delete(created.id)
    assert await store.load_state(sibling) is None and await store.progress(sibling) is None
    assert await store.runs(created.id) == []
    assert len(await store.runs(other.id)) == 2
    assert await store.load_state(f"{other.id}/acct_1") is not None


async def test_webhook_events_wait_bounded_and_once_each(store: PipelineStore):
    def body(number: int) -> bytes:
        return orjson.dumps({"id": f"evt_{number}", "type": "customer.updated"})

    for number in (1, 2, 2):  # a second delivery of evt_2 is kept once
        await store.add_event("pl_a", f"evt_{number}", body(number), limit=3)
    await store.add_event("pl_b", "evt_1", body(1), limit=3)
    found = await store.events("pl_a", ["evt_2", "evt_9", "evt_1"])
    assert [event["id"] for event in found] == ["evt_2", "evt_1"]  # in the order asked
    await store.add_event("pl_a", "evt_3", body(3), limit=3)
    with pytest.raises(InboxFull):
        await store.add_event("pl_a", "evt_4", body(4), limit=3)
    await store.drop_events("pl_a", ["evt_1", "evt_2"])
    assert [e["id"] for e in await store.events("pl_a", ["evt_1", "evt_3"])] == ["evt_3"]
    await store.add_event("pl_a", "evt_5", body(5), keep_s=0)  # older ones expire
    assert [e["id"] for e in await store.events("pl_a", ["evt_3", "evt_5"])] == ["evt_5"]
    assert [e["id"] for e in await store.events("pl_b", ["evt_1"])] == ["evt_1"]


async def test_a_call_that_never_ended_is_marked_lost_by_the_next(store: PipelineStore):
    created = await store.create(SPEC)
    ended = {
        "id": "run_1",
        "started_at": "2026-01-01T00:00:01",
        "ended_at": "x",
        "reason": "complete",
    }
    killed = {"id": "run_2", "started_at": "2026-01-01T00:00:02", "mode": "backfill"}
    await store.save_run(created.id, "run_1", ended)
    await store.save_run(created.id, "run_2", killed)
    await store.save_run(f"{created.id}/acct_1", "run_3", {**killed, "id": "run_3"})

    assert await store.end_lost_runs(created.id, "2026-01-01T00:01:00") == ["run_2"]
    runs = {run["id"]: run for run in await store.runs(created.id)}
    assert runs["run_2"]["reason"] == "lost"
    assert runs["run_2"]["ended_at"] == "2026-01-01T00:01:00"
    assert runs["run_1"] == ended  # ended calls are left alone
    assert "ended_at" not in runs["run_3"]  # another account's call is its own
    assert await store.end_lost_runs(created.id, "2026-01-01T00:02:00") == []


async def test_request_slots_follow_each_other_on_one_budget(store: PipelineStore):
    firsts = [(await store.reserve_requests("stripe:a", 10.0, 5))[0] for _ in range(3)]
    # each reservation starts where the one before ended: 5 slots at 10/s are half a second
    assert firsts[1] == pytest.approx(firsts[0] + 0.5) and firsts[2] == pytest.approx(
        firsts[1] + 0.5
    )
    first, now = await store.reserve_requests("stripe:b", 10.0, 1)
    assert first == now  # another account: free at once
