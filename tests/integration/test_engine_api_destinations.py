"""Runs through the engine HTTP API on a database destination's own state store
(``use_destination_state``) get what in-process runs get: one run per pipeline at a time, and the
state saved in the transaction that commits the data it covers (even when the server is killed)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
from tests.support.destinations import Target, assert_state_covers_data, saved_and_stored
from tests.support.engine_api import engine_in_thread, serve_engine

PAGE = 50


def pipeline(name: str, target: Target, records: int, page_delay_s: float = 0.0) -> dict[str, Any]:
    """Test-source customers in pages of 50 into ``target``, batches of 120 records (so batches
    end in the middle of pages)."""
    stream = {"records": records, "page_size": PAGE, "supports_time_range": False}
    if page_delay_s:
        stream["page_delay_s"] = page_delay_s
    return {
        "name": name,
        "source": {"type": "test", "config": {"streams": {"customers": stream}}},
        "destination": {"type": target.kind, "config": target.config(batch_size=120)},
    }


def sync_body(spec: dict[str, Any]) -> dict[str, Any]:
    return {"pipeline": spec, "use_destination_state": True}


async def test_a_second_sync_of_a_pipeline_fails_at_once_with_409(target: Target) -> None:
    slow = pipeline("busy", target, 2000, page_delay_s=0.05)
    with engine_in_thread() as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async with client.stream("POST", "/sync", json=sync_body(slow)) as first:
                assert first.status_code == 200
                lines = first.aiter_lines()
                while orjson.loads(await anext(lines))["type"] != "source_state":
                    pass  # the first run is under way

                started = time.monotonic()
                second = await client.post("/sync", json=sync_body(slow))
                assert time.monotonic() - started < 5
                assert second.status_code == 409, second.text
                error = second.json()["error"]
                assert error["failure_type"] == "transient_error"
                assert "pipeline 'busy' is already running" in error["message"]
                assert "\n" not in error["message"]

                # another pipeline of the same database is not held up
                other = await client.post("/sync", json=sync_body(pipeline("other", target, 60)))
                assert other.status_code == 200
                ends = [line for line in other.text.splitlines() if '"type":"end"' in line]
                assert orjson.loads(ends[-1])["end"]["reason"] == "complete"

            # closing the first stream ends its run and frees the lease
            deadline = time.monotonic() + 10
            while True:
                again = await client.post("/sync", json=sync_body(pipeline("busy", target, 60)))
                if again.status_code != 409 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 200, again.text


async def test_the_state_is_saved_with_the_data_through_the_engine_api(target: Target) -> None:
    """While `pipeline sync --engine-url` runs (and after the engine server is killed -9), the
    saved state covers every committed row but those of the one page in flight."""
    spec = orjson.dumps(pipeline("killed", target, 300_000)).decode()
    with serve_engine() as engine:
        client = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "stripe_sync.cli.main", "pipeline", "sync"],
            *["--pipeline", spec, "--engine-url", engine.url],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        snapshots: list[tuple[int, int]] = []
        try:
            deadline = time.monotonic() + 90
            while not snapshots or snapshots[-1][0] < 3000:
                assert client.returncode is None, "the client ended on its own"
                assert engine.process.poll() is None, engine.stderr()
                assert time.monotonic() < deadline, f"no progress: {snapshots[-1:]}"
                seen = saved_and_stored(target)
                if seen is not None:
                    snapshots.append(seen)
                await asyncio.sleep(0.01)
            await asyncio.sleep(random.uniform(0, 0.3))
            engine.process.send_signal(signal.SIGKILL)
            engine.process.wait()
            await asyncio.wait_for(client.wait(), 30)
        finally:
            if client.returncode is None:
                client.kill()
                await client.wait()
    assert client.returncode != 0
    assert_state_covers_data(target, snapshots, PAGE)


def test_the_cli_on_a_remote_engine_says_the_pipeline_is_busy(target: Target) -> None:
    """`pipeline sync --engine-url` meeting a run in flight: exit 5, one line on stderr."""
    spec = orjson.dumps(pipeline("busy", target, 2000, page_delay_s=0.05)).decode()
    command = [sys.executable, "-m", "stripe_sync.cli.main", "pipeline", "sync",
               "--pipeline", spec]  # fmt: skip
    with serve_engine() as engine:
        first = subprocess.Popen([*command, "--engine-url", engine.url], stdout=subprocess.PIPE)
        try:
            assert first.stdout is not None
            while b'"source_state"' not in first.stdout.readline():
                assert first.poll() is None
            second = subprocess.run(
                [*command, "--engine-url", engine.url], capture_output=True, text=True, timeout=60
            )
        finally:
            first.kill()
            first.wait()
    assert second.returncode == 5 and second.stdout == ""
    (line,) = second.stderr.splitlines()
    assert "pipeline 'busy' is already running" in line, line
