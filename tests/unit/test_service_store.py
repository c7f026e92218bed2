"""The pipeline store on SQLite and Postgres: migrations, versions, progress, runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.store import (
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
    store = open_store(url)
    await store.migrate()
    return store


async def test_migrate_is_idempotent_and_safe_to_run_at_once(store: PipelineStore):
    versions = await asyncio.gather(*(store.migrate() for _ in range(4)))
    assert set(versions) == {3}


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
    with pytest.raises(ConfigError, match="unsupported store URL scheme 'mysql'"):
        open_store("mysql://x")
    with pytest.raises(ConfigError, match="service dev"):
        open_store("sqlite:///x.db", allow_sqlite=False)
    assert open_store("postgres://u@h/db").dialect == "postgres"


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
