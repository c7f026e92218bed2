"""Destinations under faults: a process killed mid-sync, refused credentials, an unreachable or
restarted Postgres. Saved states must never claim records that are not in the table."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from collections.abc import Iterator

import orjson
import pytest
from tests.support.destinations import (
    Target,
    assert_state_covers_data,
    catalog,
    feed,
    of_type,
    saved_and_stored,
)
from tests.support.postgres import PostgresServer, free_port

from stripe_sync.destinations.postgres import PostgresDestination, PostgresStateStore
from stripe_sync.engine.sync import sync

PAGE = 50


def long_sync(url: str) -> list[str]:
    """`stripe-sync pipeline sync` of a test stream far longer than the test: pages of 50 records,
    a state after each, batches of 120 records (so batches end in the middle of pages), the state
    kept in the destination's _sync_state."""
    pipeline = {
        "name": "killed",
        "source": {
            "type": "test",
            "config": {
                "streams": {
                    "customers": {
                        "records": 300_000,
                        "page_size": PAGE,
                        "supports_time_range": False,
                    }
                }
            },
        },
        "destination": {
            "type": "sqlite" if url.startswith("sqlite") else "postgres",
            "config": {"url": url, "batch_size": 120},
        },
    }
    pipeline_json = orjson.dumps(pipeline).decode()
    return [sys.executable, "-m", "stripe_sync.cli.main", "pipeline", "sync",
            "--pipeline", pipeline_json]  # fmt: skip


async def test_the_saved_state_never_trails_the_data_by_more_than_a_page(target: Target) -> None:
    """Whenever the database is looked at (and after kill -9), the saved state covers every
    committed row but those of the one page in flight: it is saved with the data."""
    process = await asyncio.create_subprocess_exec(
        *long_sync(target.url), stdout=asyncio.subprocess.DEVNULL
    )
    snapshots: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + 90
        while not snapshots or snapshots[-1][0] < 3000:
            assert process.returncode is None, "the sync process ended on its own"
            assert time.monotonic() < deadline, f"no progress: {snapshots[-1:]}"
            seen = saved_and_stored(target)
            if seen is not None:
                snapshots.append(seen)
            await asyncio.sleep(0.01)
        await asyncio.sleep(random.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert_state_covers_data(target, snapshots, PAGE)


async def test_refused_credentials_are_a_global_auth_error(postgres_server: PostgresServer) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{postgres_server.port}/postgres"
    out = [m async for m in PostgresDestination().write({"url": url}, catalog(), feed([]))]
    (error,) = of_type(out, "error")
    assert (error["level"], error["failure_type"]) == ("global", "auth_error")
    assert "secret" not in error["message"]
    status = await PostgresDestination().check({"url": url})
    assert status["status"] == "failed" and "credentials" in status["message"]


async def test_an_unreachable_server_is_a_global_transient_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    out = [m async for m in PostgresDestination().write({"url": url}, catalog(), feed([]))]
    (error,) = of_type(out, "error")
    assert (error["level"], error["failure_type"]) == ("global", "transient_error")


async def test_a_missing_database_is_a_config_error(postgres_server: PostgresServer) -> None:
    url = postgres_server.url_for("no_such_database")
    status = await PostgresDestination().check({"url": url})
    assert status["status"] == "failed" and "does not exist" in status["message"]


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A cluster of its own, so restarting it cannot disturb other tests."""
    with PostgresServer() as server:
        yield server


async def test_postgres_restarted_mid_write(own_server: PostgresServer) -> None:
    """A sync (engine.sync, state in the destination) meets a Postgres restart: it ends with an
    error, its saved state covers exactly what was committed, and the next call completes."""
    url = own_server.create_database("restart")
    target = Target("postgres", url)
    spec = {
        "name": "restarted",
        "source": {
            "type": "test",
            "config": {
                "streams": {
                    "customers": {
                        "records": 60,
                        "page_size": 10,
                        "page_delay_s": 0.3,
                        "supports_time_range": False,
                    }
                }
            },
        },
        "destination": {"type": "postgres", "config": {"url": url, "batch_size": 10}},
    }
    store = PostgresStateStore(url)
    try:
        first = []
        async for message in sync(spec, state_store=store):
            first.append(message)
            if (
                message["type"] == "source_state"
                and message["source_state"]["data"]["offset"] == 30
            ):
                own_server.restart("immediate")  # blocks the loop until it is back
        end = first[-1]["end"]
        assert end["reason"] == "error" and end["has_more"]
        (error,) = of_type(first, "error")
        assert (error["level"], error["failure_type"]) == ("global", "transient_error")
        confirmed = of_type(first, "source_state")[-1]["data"]["offset"]
        assert 30 <= confirmed < 60
        saved = await store.load("restarted")  # the store reconnects after the restart
        assert saved is not None
        assert saved["source"]["streams"]["customers"]["offset"] == confirmed
        ((rows,),) = target.query(f"SELECT count(*) FROM {target.table('customers')}")
        assert confirmed <= rows <= confirmed + 10  # at most the page whose state was in flight

        second = [message async for message in sync(spec, state_store=store)]
        assert second[-1]["end"]["reason"] == "complete" and not of_type(second, "error")
        resumed = [state["data"]["offset"] for state in of_type(second, "source_state")]
        assert resumed == list(range(confirmed + 10, 70, 10))  # from the saved state on
        saved = await store.load("restarted")
        assert saved is not None and saved["source"]["streams"]["customers"]["offset"] == 60
    finally:
        await store.close()
    assert target.query(f"SELECT count(*) FROM {target.table('customers')}") == [(60,)]
