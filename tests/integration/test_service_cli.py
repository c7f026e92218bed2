"""`stripe-sync service dev`: one command starts Temporal, the store, the API and a worker; its
state (the workflow's, and the sync state of a destination without a store of its own) survives a
restart; Ctrl-C stops everything with exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.support.temporal import ServiceClient, ServiceProcess

from stripe_sync.service.sealing import Sealer, StoreKeyError
from stripe_sync.service.store import open_store

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _dev(tmp_path: Path, temporal_port: int, *extra: str) -> Iterator[ServiceProcess]:
    args = ["dev", "--port", "0", "--data-dir", str(tmp_path / "data")]
    args += ["--temporal-port", str(temporal_port), "--live-time-limit", "30", *extra]
    log = tmp_path / f"dev{len(list(tmp_path.glob('dev*.log')))}.log"
    process = ServiceProcess(args, log, "listening http://")
    try:
        yield process
    finally:
        process.stop()


def _serving(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_service_dev_runs_everything_and_keeps_its_state(tmp_path):
    temporal_port = _free_port()
    spec = {
        "name": "dev",
        "source": {"type": "test", "config": {"streams": {"customers": {"records": 20}}}},
        # a destination without a `_sync_state` of its own: the state lives in the store
        "destination": {"type": "test", "config": {"path": str(tmp_path / "rows.jsonl")}},
    }
    with _dev(tmp_path, temporal_port) as first:
        token = first.line_with("api token: ").split()[-1]
        assert len(token) >= 24
        client = ServiceClient(first.line_with("listening").split()[1], token)
        created = client.post("/pipelines", json=spec)
        assert created.status_code == 201, created.text
        pipeline_id = created.json()["id"]
        client.wait_status(pipeline_id, "live")
        client.close()
        # Ctrl-C in a live call of 30 s: the call is cancelled at once, everything stops
        first.process.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert first.process.wait(timeout=45) == 0
        assert time.monotonic() - started < 20
        assert not _serving(temporal_port)

    with _dev(tmp_path, temporal_port, "--api-token", token) as second:
        assert "api token:" not in second.logs()
        client = ServiceClient(second.line_with("listening").split()[1], token)
        assert [p["id"] for p in client.get("/pipelines").json()["pipelines"]] == [pipeline_id]
        client.wait_status(pipeline_id, "live")
        runs = client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        assert [run["mode"] for run in runs].count("backfill") == 1  # not backfilled again
        with contextlib.closing(sqlite3.connect(tmp_path / "data" / "pipelines.db")) as store:
            query = "SELECT state FROM pipeline_states WHERE pipeline_id = ?"
            (state,) = store.execute(query, (pipeline_id,)).fetchone()
            (sealed,) = store.execute("SELECT spec FROM pipelines").fetchone()
        # no setup, yet sealed: the key made at the first start opens it after the restart
        assert (tmp_path / "data" / "store.key").stat().st_mode & 0o777 == 0o600
        assert "rows.jsonl" not in sealed and not sealed.startswith("{")
        assert json.loads(state)["engine"]["terminal_streams"] == {"customers": "complete"}
        rows = (tmp_path / "rows.jsonl").read_text().splitlines()
        assert len({json.loads(row)["data"]["id"] for row in rows}) == 20
        client.close()
        # kill -9: the Temporal dev server does not outlive the command
        second.kill()
        deadline = time.monotonic() + 15
        while _serving(temporal_port):
            assert time.monotonic() < deadline, "the Temporal dev server outlived service dev"
            time.sleep(0.1)


def test_service_api_refuses_bad_input_with_exit_2(tmp_path):
    for args, message in (
        (["api", "--store", "postgresql://x/y"], "--api-token"),
        (
            ["api", "--api-token", "t", "--store", "sqlite:///x.db"],
            "`stripe-sync service dev` only",
        ),
        (["worker", "--store", "mysql://x"], "unsupported store URL scheme"),
        (["worker", "--store", "postgresql://x/y"], "STRIPE_SYNC_STORE_KEY or --store-key-file"),
        (
            ["api", "--api-token", "t", "--store", "postgresql://x/y", "--allow-connector", " "],
            "--allow-connector needs a command",
        ),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "stripe_sync.cli.main", "service", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                "STRIPE_SYNC_API_TOKEN": "",
                "STRIPE_SYNC_STORE_URL": "",
                "STRIPE_SYNC_STORE_KEY": "",
            },
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr


def _service(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or {**os.environ, "STRIPE_SYNC_STORE_KEY": ""},
    )


def test_rotate_key_seals_every_pipeline_with_the_new_key(tmp_path):
    old, new = (_service("new-key").stdout.strip() for _ in range(2))
    assert old != new
    url = f"sqlite:///{tmp_path / 'pipelines.db'}"
    spec = {"name": "p", "source": {"type": "test"}, "destination": {"type": "test"}}

    async def create() -> str:
        store = open_store(url, Sealer([old]))
        await store.migrate()
        return (await store.create(spec)).id

    pipeline_id = asyncio.run(create())
    keys = tmp_path / "store.key"
    keys.write_text(f"{new}\n{old}\n")  # the new key first; the old one still opens
    rotated = _service("rotate-key", "--store", url, "--store-key-file", str(keys))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "resealed 1 pipelines with the first key"
    assert asyncio.run(open_store(url, Sealer([new])).get(pipeline_id)).spec == spec
    with pytest.raises(StoreKeyError):
        asyncio.run(open_store(url, Sealer([old])).get(pipeline_id))
    keys.write_text(f"{old}\n")  # a key that no longer opens them: a one-line failure
    failed = _service("rotate-key", "--store", url, "--store-key-file", str(keys))
    assert failed.returncode == 5
    assert failed.stderr.strip().splitlines() == [
        "stripe-sync: StoreKeyError: a sealed pipeline opens with none of the given store keys"
    ]
