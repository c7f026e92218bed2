"""Several pipelines in one destination database (a SQLite file, a Postgres schema): each one's
teardown removes only what is its own; one run per pipeline at a time (a second fails at once or
waits, and a killed run's lease does not outlive it); pipelines starting together all set up."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from typing import Any

import orjson
import psycopg
from tests.support.destinations import Target, catalog
from tests.support.engine import run_sync

from stripe_sync.destinations.postgres import PostgresDestination
from stripe_sync.engine.registry import destination_state_store

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


def pipeline(name: str, target: Target, streams: dict[str, int]) -> dict[str, Any]:
    """A pipeline from the test source into the target (``streams``: name → records)."""
    generated = {s: {"records": n, "page_size": 10, "supports_time_range": False}
                 for s, n in streams.items()}  # fmt: skip
    return {
        "name": name,
        "source": {"type": "test", "config": {"streams": generated}},
        "destination": {"type": target.kind, "config": target.config()},
    }


async def synced(spec: dict[str, Any]) -> None:
    from stripe_sync.engine.pipeline import Pipeline

    store = destination_state_store(Pipeline.model_validate(spec))
    try:
        _, end = await run_sync(spec, state_store=store)
    finally:
        await store.close()  # type: ignore[union-attr]
    assert end["reason"] == "complete", end


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def teardown(spec: dict[str, Any], *options: str) -> str:
    done = cli("pipeline", "teardown", "--pipeline", orjson.dumps(spec).decode(), *options)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    message: str = orjson.loads(line)["log"]["message"]
    return message


def tables(target: Target) -> set[str]:
    if target.kind == "sqlite":
        rows = target.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = target.query("SELECT tablename FROM pg_tables WHERE schemaname = 'stripe'")
    return {row[0] for row in rows}


def count(target: Target, table: str) -> int:
    return int(target.query(f"SELECT count(*) FROM {target.table(table)}")[0][0])


async def test_teardown_of_one_pipeline_leaves_the_other_whole(target: Target) -> None:
    a = pipeline("a", target, {"customers": 30, "charges": 20})
    b = pipeline("b", target, {"customers": 30, "invoices": 15})
    await synced(a)
    await synced(b)

    said = teardown(a)
    assert "removed the state of pipeline 'a'" in said
    assert "dropped charges" in said and "kept customers (used by 'b')" in said

    assert tables(target) >= {"customers", "invoices", "_sync_state", "_sync_deleted"}
    assert "charges" not in tables(target)
    assert (count(target, "customers"), count(target, "invoices")) == (30, 15)
    pipelines = target.query(f"SELECT pipeline FROM {target.table('_sync_state')}")
    assert pipelines == [("b",)]
    status = cli("status", "--to", target.url, "--pipeline-name", "b")
    assert status.returncode == 0, status.stderr
    assert "invoices" in status.stdout
    gone = cli("status", "--to", target.url, "--pipeline-name", "a")
    assert gone.returncode != 0 and "no state stored for pipeline 'a'" in gone.stderr

    # b still runs on its own state and tables
    await synced(b)
    assert (count(target, "customers"), count(target, "invoices")) == (30, 15)

    said = teardown(b)
    assert "dropped customers, invoices" in said and "kept" not in said
    assert tables(target) == set()


async def test_keep_tables_removes_only_the_state(target: Target) -> None:
    a = pipeline("a", target, {"customers": 12})
    await synced(a)
    said = teardown(a, "--keep-tables")
    assert "removed the state of pipeline 'a'" in said and "kept customers (keep_tables)" in said
    assert count(target, "customers") == 12
    assert target.query(f"SELECT count(*) FROM {target.table('_sync_state')}") == [(0,)]
    # a later teardown without state or users drops what is left
    said = teardown(a)
    assert "no state stored for pipeline 'a'" in said and "dropped customers" in said
    assert tables(target) == set()


def sync_command(spec: dict[str, Any], *options: str) -> list[str]:
    return [*CLI, "pipeline", "sync", "--pipeline", orjson.dumps(spec).decode(), *options]


def slow_pipeline(name: str, target: Target) -> dict[str, Any]:
    """About ten seconds of pages (so a second run surely meets the first)."""
    spec = pipeline(name, target, {"customers": 2000})
    spec["source"]["config"]["streams"]["customers"]["page_delay_s"] = 0.05
    return spec


def saved_pipelines(target: Target) -> set[str]:
    try:
        rows = target.query(f"SELECT pipeline FROM {target.table('_sync_state')}")
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
        return set()
    return {row[0] for row in rows}


def test_a_second_run_of_a_pipeline_fails_at_once_or_waits(target: Target) -> None:
    spec = slow_pipeline("lease", target)
    first = subprocess.Popen(sync_command(spec), stdout=subprocess.DEVNULL)
    waiting: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while "lease" not in saved_pipelines(target):  # the first run is under way
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

        started = time.monotonic()
        second = cli("pipeline", "sync", "--pipeline", orjson.dumps(spec).decode())
        assert time.monotonic() - started < 30
        assert second.returncode == 5 and second.stdout == ""
        (line,) = second.stderr.splitlines()
        assert "pipeline 'lease' is already running" in line and "--wait" in line

        # another pipeline of the same database is not held up
        asyncio.run(synced(pipeline("other", target, {"invoices": 20})))

        waiting = subprocess.Popen(
            sync_command(spec, "--wait"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(1.5)
        assert waiting.poll() is None, "the waiting run did not wait"
        assert first.poll() is None, "the first run ended too early for this test"
        first.send_signal(signal.SIGKILL)  # the lease must not outlive its holder
        first.wait()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        end = orjson.loads(out.splitlines()[-1])["end"]
        assert end["reason"] == "complete" and not end["has_more"]
    finally:
        for process in (first, waiting):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert count(target, "customers") == 2000


def test_pipelines_starting_together_on_a_fresh_database_all_set_up(postgres_db_url: str) -> None:
    """Schema and tables created by several processes at once: no duplicate key error."""
    processes = [
        subprocess.Popen(
            sync_command(pipeline(name, Target("postgres", postgres_db_url), {"customers": 30})),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b", "c")
    ]
    errors = [process.communicate(timeout=120)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors

    async def setups(schema: str) -> None:  # and in-process, many setups of a new schema at once
        config = {"url": postgres_db_url, "schema": schema}
        destination = PostgresDestination()
        await asyncio.gather(
            *[destination.setup(config, catalog("customers", "invoices")) for _ in range(4)]
        )

    for schema in ("one", "two"):
        asyncio.run(setups(schema))
