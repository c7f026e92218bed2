"""`sync --live`: changes reach the destination while the sync keeps running; the live lane in the
progress; a kill -9 during the backfill and during live mode resumes both the backfill and the
events cursor."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
from tests.support.live import (
    SqliteRows,
    database_pipeline,
    save_state,
    saved_state,
    sdk,
    sync_with_store,
    verify_all,
)
from tests.support.stripe import fake_stripe

from stripe_sync.cli.sync_command import live_calls
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.engine.sync import sync

POLL_S = 0.5
CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


async def wait_until(check: Callable[[], Any], within: float, every: float = 0.05) -> float:
    """Seconds until ``check()`` is true; fails after ``within`` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {check}")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def test_a_change_reaches_the_destination_within_the_poll_interval(tmp_path):
    target = SqliteRows(tmp_path / "poll.db")
    with fake_stripe({"customers": 300, "subscriptions": 20}) as fake:
        pipeline = database_pipeline(
            fake, target, ["customers", "subscriptions"], poll_interval=POLL_S
        )
        store = destination_state_store(parse_pipeline(pipeline))
        abort = asyncio.Event()
        progress: list[dict[str, Any]] = []

        async def run() -> dict[str, Any]:
            end: dict[str, Any] = {}
            async for message in sync(pipeline, live=True, state_store=store, abort=abort):
                if message["type"] == "progress":
                    progress.append(message["progress"])
                elif message["type"] == "end":
                    end = message["end"]
            return end

        syncing = asyncio.create_task(run())
        await wait_until(lambda: any("live" in p for p in progress), within=30)
        customer = fake.data.streams["customers"].object_id(7)
        client = sdk(fake)
        await asyncio.to_thread(client.v1.customers.update, customer, {"name": "live one"})
        rows = target.rows
        latency = await wait_until(lambda: rows("customers")[customer]["name"] == "live one", 20)
        assert latency < POLL_S + 10
        created = await asyncio.to_thread(client.v1.customers.create, {"name": "fresh"})
        await wait_until(lambda: created.id in target.live_ids("customers"), POLL_S + 10)
        await asyncio.to_thread(client.v1.customers.delete, customer)
        await wait_until(lambda: rows("customers")[customer]["_deleted"], POLL_S + 10)
        await asyncio.sleep(1.2)  # a progress message after the last poll
        abort.set()
        end = await syncing
        await store.close()  # type: ignore[union-attr]
        assert end["reason"] == "aborted" and end["has_more"] is False
        assert end["ending_state"]["engine"]["mode"] == "live"
        live = progress[-1]["live"]
        assert live["event_count"] == 3
        assert 0 <= live["lag_seconds"] < POLL_S + 10
        assert live["cursor"].startswith("20")  # the last event's time
        cursor = end["ending_state"]["source"]["global"]["events"]["cursor_created"]
        assert cursor >= int(time.time()) - POLL_S - 10


def test_the_command_keeps_going_with_live_and_stops_at_its_time_limit(tmp_path):
    target = SqliteRows(tmp_path / "cli.db")
    with fake_stripe({"customers": 200}) as fake:
        command = [
            *CLI,
            "sync",
            "--api-key",
            "sk_test_cli",
            "--base-url",
            fake.url,
            "--to",
            target.url,
            "--streams",
            "customers",
            "--live",
            "--poll-interval",
            "0.3",
            "--time-limit",
            "4",
            "--plain",
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        customer = fake.data.streams["customers"].object_id(1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if target.path.exists() and customer in _safe_ids(target):
                break
            time.sleep(0.1)
        sdk(fake).v1.customers.update(customer, {"name": "seen live"})
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert target.rows("customers")[customer]["name"] == "seen live"
    messages = [orjson.loads(line) for line in out.splitlines()]
    assert messages[-1]["type"] == "end" and messages[-1]["end"]["reason"] == "time_limit"
    assert messages[-1]["end"]["run_progress"]["live"]["event_count"] == 1
    assert "complete" in err.decode()


def _safe_ids(target: SqliteRows) -> set[str]:
    try:
        return target.live_ids("customers")
    except sqlite3.Error:
        return set()


def _saved(path: Path) -> dict[str, Any]:
    try:
        with sqlite3.connect(path) as connection:
            row = connection.execute("SELECT state FROM _sync_state").fetchone()
    except sqlite3.Error:
        return {}
    return orjson.loads(row[0]) if row else {}


async def test_kill_9_during_backfill_and_during_live_mode_resumes_both(tmp_path):
    target = SqliteRows(tmp_path / "crash.db")
    with fake_stripe({"customers": 5000, "subscriptions": 100}) as fake:
        streams = ["customers", "subscriptions"]
        pipeline = database_pipeline(fake, target, streams, max_requests_per_second=15)
        client = sdk(fake)
        customers = fake.data.streams["customers"]
        rows = target.rows

        def start(name: str) -> subprocess.Popen[bytes]:
            command = [
                *CLI,
                "sync",
                *("--api-key", "sk_test_live", "--base-url", fake.url, "--to", target.url),
                *("--pipeline-name", "live", "--streams", ",".join(streams), "--max-rps", "15"),
                *("--live", "--poll-interval", "0.3", "--no-progress"),
            ]
            with open(tmp_path / f"{name}.ndjson", "wb") as out:
                return subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)

        def kill(process: subprocess.Popen[bytes]) -> None:
            process.send_signal(signal.SIGKILL)
            process.wait()

        def saved() -> dict[str, Any]:
            return _saved(target.path)

        # 1. kill -9 in the middle of the backfill
        first = start("first")
        await wait_until(lambda: len(_safe_ids(target)) >= 3000, within=30)
        kill(first)
        state = saved()
        assert state["engine"]["mode"] == "backfill"
        assert state["source"]["streams"]["customers"]["remaining"]
        assert "events" in state["source"]["global"]
        fetched_before = len(_safe_ids(target))
        assert fetched_before < 5000
        client.v1.customers.update(customers.object_id(0), {"name": "while down 1"})

        # 2. the backfill continues from its saved segments, then live mode; kill -9 there
        second = start("second")
        await wait_until(lambda: saved().get("engine", {}).get("mode") == "live", within=60)
        client.v1.customers.update(customers.object_id(1), {"name": "live 2"})
        await wait_until(lambda: rows("customers")[customers.object_id(1)]["name"] == "live 2", 15)
        cursor_before = saved()["source"]["global"]["events"]["cursor_created"]
        await asyncio.sleep(1.2)  # the progress after the change
        kill(second)
        client.v1.customers.update(customers.object_id(2), {"name": "while down 2"})
        client.v1.customers.delete(customers.object_id(3))

        # 3. live again: what changed while it was down arrives from the saved cursor
        third = start("third")
        await wait_until(lambda: rows("customers")[customers.object_id(3)]["_deleted"], 30)
        third.send_signal(signal.SIGINT)
        assert third.wait(timeout=60) == 4

        second_progress = [
            message["progress"]
            for message in _ndjson(tmp_path / "second.ndjson")
            if message["type"] == "progress"
        ]
        # run-level counts: the first process's records plus the rest (and the pages it had read
        # but not yet confirmed when it was killed), not a second full pass (8,000 and more)
        assert second_progress[-1]["streams"]["customers"]["record_count"] < 5000 + 1500
        state = await saved_state(pipeline)
        assert state["source"]["global"]["events"]["cursor_created"] >= cursor_before
        stored = rows("customers")
        assert stored[customers.object_id(0)]["name"] == "while down 1"
        assert stored[customers.object_id(2)]["name"] == "while down 2"
        assert len(target.live_ids("customers")) == 4999
        assert await verify_all(pipeline, streams) == []


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


async def test_live_mode_past_the_events_window_re_backfills_and_resumes(tmp_path):
    target = SqliteRows(tmp_path / "cliff.db")
    with fake_stripe({"customers": 400, "tax_codes": 3}) as fake:
        streams = ["customers", "tax_codes"]
        pipeline = database_pipeline(fake, target, streams, poll_interval=POLL_S)
        await sync_with_store(pipeline)
        state = await saved_state(pipeline)
        old_run = state["engine"]["sync_run_id"]
        state["source"]["global"]["events"]["cursor_created"] = int(time.time()) - 40 * 86_400
        await save_state(pipeline, state)
        with sqlite3.connect(target.path) as connection:  # lost behind the sync's back
            connection.execute("DELETE FROM customers WHERE rowid % 3 = 0")

        store = destination_state_store(parse_pipeline(pipeline))
        abort = asyncio.Event()
        messages: list[dict[str, Any]] = []

        def call(limit: float | None) -> AsyncIterator[dict[str, Any]]:
            return sync(pipeline, live=True, state_store=store, time_limit=limit, abort=abort)

        async def run() -> None:
            async for message in live_calls(call, time_limit=60, abort=abort):
                messages.append(message)

        syncing = asyncio.create_task(run())
        await wait_until(lambda: len(target.live_ids("customers")) == 400, within=30)
        await wait_until(lambda: _saved(target.path)["engine"]["mode"] == "live", within=30)
        customer = fake.data.streams["customers"].object_id(9)
        await asyncio.to_thread(sdk(fake).v1.customers.update, customer, {"name": "after"})
        await wait_until(lambda: target.rows("customers")[customer]["name"] == "after", 15)
        abort.set()
        await syncing
        await store.close()  # type: ignore[union-attr]
        assert await verify_all(pipeline, streams) == []

    ends = [m["end"] for m in messages if m["type"] == "end"]
    assert [end["reason"] for end in ends] == ["time_limit", "aborted"]
    assert ends[0]["has_more"] is True  # the reset started a new run that re-backfills
    reset = ends[0]["run_progress"]["streams"]["customers"]
    assert reset["status"] == "pending" and "40.0 days old" in reset["reason"]
    assert ends[1]["ending_state"]["engine"]["sync_run_id"] != old_run
    logs = [m["log"]["message"] for m in messages if m["type"] == "log"]
    assert any("40.0 days old" in line and "a new run re-backfills it" in line for line in logs)
    assert any(line.startswith("stream reset: customers: ") for line in logs)
    assert not any(line.startswith("stream reset: tax_codes") for line in logs)
    second_call = ends[1]["request_progress"]["streams"]
    assert second_call["customers"]["record_count"] >= 400
