"""`stripe-sync service dev`: one command starts Temporal, the store, the API and a worker; its
state (the workflow's, and the sync state of a destination without a store of its own) survives a
restart; Ctrl-C stops everything with exit 0."""

from __future__ import annotations

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
    ):
        result = subprocess.run(
            [sys.executable, "-m", "stripe_sync.cli.main", "service", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "STRIPE_SYNC_API_TOKEN": "", "STRIPE_SYNC_STORE_URL": ""},
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
