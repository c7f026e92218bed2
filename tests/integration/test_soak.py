"""Soak: a sync into Postgres through 500s, dropped connections and 429 bursts, survives a Postgres
restart and a kill -9, resumes each time, and ends with `verify` passing. Each interruption may
cost at most one batch plus one page per range in flight (the saved state is committed with the
data), which bounds the rows written again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe

from stripe_sync.fake_stripe.config import Burst429

STREAMS = "customers,charges,invoices,subscription_items"
OBJECTS = {
    "customers": 5000,
    "charges": 4000,
    "invoices": 1200,
    "subscriptions": 300,
    "subscription_items": 600,
}
BATCH = 1000
PAGE = 100


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A cluster of its own, so restarting it cannot disturb other tests."""
    with PostgresServer() as server:
        yield server


def sync_command(url: str, database: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stripe_sync.cli.main",
        "sync",
        "--api-key",
        "sk_test_soak",
        "--base-url",
        url,
        "--to",
        database,
        "--streams",
        STREAMS,
        "--max-rps",
        "60",
        "--no-progress",
        "--ndjson",
    ]


def confirmed_states(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b'"type":"source_state"')


def messages(path: Path) -> list[dict]:
    lines = path.read_bytes().splitlines()
    parsed = []
    for line in lines:
        with contextlib.suppress(orjson.JSONDecodeError):  # a killed process may cut its last line
            parsed.append(orjson.loads(line))
    return parsed


def in_flight_ranges(state: dict | None) -> int:
    streams = ((state or {}).get("source") or {}).get("streams") or {}
    return sum(
        len(saved.get("remaining") or []) + 1
        for saved in streams.values()
        if isinstance(saved, dict)
    )


def rows_written_again(call: list[dict]) -> int:
    """``updated`` + ``unchanged`` rows of one call: its ``end``'s own counts, or for a killed
    call the growth of the run's counts over its progress lines."""
    end = next((m["end"] for m in call if m["type"] == "end"), None)
    if end is not None:
        writes = end["request_progress"]["writes"]
        return int(writes["updated"] + writes["unchanged"])
    seen = [m["progress"]["writes"] for m in call if m["type"] == "progress"]
    if not seen:
        return 0
    return sum(seen[-1][key] - seen[0][key] for key in ("updated", "unchanged"))


def saved_state(database: str) -> dict | None:
    """The pipeline's state as the destination saved it (with the data it covers)."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT state FROM stripe._sync_state WHERE pipeline = 'default'"
        ).fetchone()
    return row[0] if row else None


def test_soak_with_faults_restart_and_kill(own_server: PostgresServer, tmp_path: Path) -> None:
    database = own_server.create_database("soak")
    faults = {
        "fault_rate": 0.05,
        "reset_rate": 0.02,
        "burst_429": Burst429(every_s=4.0, length_s=0.4),
        "latency_ms": 15,
    }
    with fake_stripe(OBJECTS, **faults) as fake:
        command = sync_command(fake.url, database)
        outputs: list[Path] = []
        interruptions = 0
        allowance = 0

        def start(label: str) -> tuple[subprocess.Popen[bytes], Path]:
            out = tmp_path / f"{label}.ndjson"
            outputs.append(out)
            handle = out.open("wb")
            return subprocess.Popen(command, stdout=handle, stderr=subprocess.DEVNULL), out

        def wait_for_states(process: subprocess.Popen[bytes], out: Path, count: int) -> None:
            deadline = time.monotonic() + 120
            while confirmed_states(out) < count:
                assert process.poll() is None, f"the sync ended early: {messages(out)[-1:]}"
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.05)

        # 1. Postgres restarts under a running sync: the sync ends with an error, resumable.
        process, out = start("restart")
        wait_for_states(process, out, 8)
        own_server.restart("immediate")
        code = process.wait(timeout=300)
        print(f"after the Postgres restart the sync exited {code}")
        if code != 0:
            interruptions += 1
            end = next((m["end"] for m in reversed(messages(out)) if m["type"] == "end"), None)
            assert code == 5, code
            allowance += BATCH + PAGE * in_flight_ranges(end and end["ending_state"])

        # 2. kill -9 in the middle of the next run.
        process, out = start("kill")
        wait_for_states(process, out, 10)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        interruptions += 1
        allowance += BATCH + PAGE * in_flight_ranges(saved_state(database))

        # 3. Resume until done.
        for attempt in range(5):
            process, out = start(f"resume{attempt}")
            code = process.wait(timeout=300)
            end = messages(out)[-1]["end"]
            if code == 0:
                break
            assert code in (3, 5), code
        assert code == 0, end
        assert not end["has_more"]

        verified = subprocess.run(
            [
                sys.executable,
                "-m",
                "stripe_sync.cli.main",
                "verify",
                "--api-key",
                "sk_test_soak",
                "--base-url",
                fake.url,
                "--to",
                database,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr

    rewritten = sum(rows_written_again(messages(path)) for path in outputs)
    assert interruptions >= 1
    assert rewritten <= allowance, (rewritten, allowance)
