"""Destinations under faults: a process killed mid-sync, refused credentials, an unreachable or
restarted Postgres. Saved states must never claim records that are not in the table."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests.support.destinations import (
    Target,
    catalog,
    customer,
    feed,
    of_type,
    record,
    state,
)
from tests.support.postgres import PostgresServer, free_port

from stripe_sync.destinations.postgres import PostgresDestination, PostgresStateStore

# A sync that never ends: pages of 50 records, a state after each, every confirmed state saved
# to the destination's _sync_state (what the engine does), until the process is killed.
ENDLESS_SYNC = textwrap.dedent(
    """
    import asyncio, sys
    from stripe_sync.destinations.postgres import PostgresDestination
    from stripe_sync.destinations.sqlite import SqliteDestination

    url = sys.argv[1]
    destination = SqliteDestination() if url.startswith("sqlite") else PostgresDestination()
    config = {"url": url, "batch_size": 120}
    catalog = {"streams": [{"name": "customers", "primary_key": [["id"]],
                            "json_schema": {"properties": {"id": {"type": "string"}}}}]}

    async def source():
        n = 0
        while True:
            for _ in range(50):
                yield {"type": "record", "record": {"stream": "customers", "version": 1,
                       "data": {"id": f"cus_{n}", "blob": "x" * 500}}}
                n += 1
            yield {"type": "source_state", "source_state": {"stream": "customers",
                   "data": {"offset": n}}}
            await asyncio.sleep(0)

    async def main():
        store = destination.state_store(config)
        async for message in destination.write(config, catalog, source()):
            if message["type"] == "source_state":
                await store.save("default", {"source": message["source_state"]["data"]})

    asyncio.run(main())
    """
)


async def test_a_killed_sync_never_saves_a_state_ahead_of_its_records(target: Target) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", ENDLESS_SYNC, target.url)
    store = target.destination().state_store(target.config())
    try:
        deadline = time.monotonic() + 60
        saved = None
        while time.monotonic() < deadline:
            saved = await store.load("default")
            if saved and saved["source"]["offset"] >= 1000:
                break
            assert process.returncode is None, "the sync process ended on its own"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        saved = await store.load("default")
    finally:
        if process.returncode is None:
            process.kill()
        await store.close()  # type: ignore[attr-defined]

    assert saved is not None and saved["source"]["offset"] >= 1000
    offset = saved["source"]["offset"]
    stored = {row[0] for row in target.query(f"SELECT id FROM {target.table('customers')}")}
    missing = [n for n in range(offset) if f"cus_{n}" not in stored]
    assert missing == [], f"saved offset {offset} claims records that are not in the table"


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
    url = own_server.create_database("restart")
    config = {"url": url, "batch_size": 10}
    store = PostgresStateStore(url)

    def page(n: int) -> list[dict[str, Any]]:
        records = [record(customer(n * 10 + i)) for i in range(10)]
        return [*records, state("customers", {"offset": n * 10 + 10})]

    async def source(start_page: int) -> AsyncIterator[dict[str, Any]]:
        for n in range(start_page, 6):
            for message in page(n):
                yield message

    async def run(start_page: int, restart_at: int | None) -> list[dict[str, Any]]:
        """Save confirmed states like the engine; restart the server once ``restart_at`` is saved."""
        out = []
        writing = PostgresDestination().write(config, catalog(), source(start_page))
        async for message in writing:
            out.append(message)
            if message["type"] == "source_state":
                await store.save("default", {"source": message["source_state"]["data"]})
                if message["source_state"]["data"]["offset"] == restart_at:
                    own_server.restart("immediate")  # blocks the loop until it is back
        return out

    try:
        first = await run(0, restart_at=30)
        (error,) = of_type(first, "error")
        assert (error["level"], error["failure_type"]) == ("global", "transient_error")
        saved = await store.load("default")  # the store reconnects after the restart
        assert saved == {"source": {"offset": 30}}

        second = await run(saved["source"]["offset"] // 10, restart_at=None)
        assert not of_type(second, "error")
        assert await store.load("default") == {"source": {"offset": 60}}
    finally:
        await store.close()
    target = Target("postgres", url)
    assert target.query(f"SELECT count(*) FROM {target.table('customers')}") == [(60,)]
