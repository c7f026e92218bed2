"""Connectors are the operator's choice: `serve-engine` and the service run the installed connector
types, and an `exec` command or `module:Class` type only when the operator listed it
(`--allow-connector`); the service's API process never runs or imports one at all.

The engine API and the service API run in this process (so `sys.modules` shows what was
imported); `touch MARKER` commands show whether anything ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.engine_api import engine_in_thread

from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.sealing import Sealer, new_key
from stripe_sync.service.service_api import create_service_app
from stripe_sync.service.store import open_store

MARKER_MODULE = "tests.support.import_marker"
DOTTED = f"{MARKER_MODULE}:Connector"
TOKEN = "policy-token"


def exec_side(marker: Path) -> dict[str, Any]:
    """`touch MARKER`, run as `sh -c` so the verb it is given (`spec`) touches no other file."""
    return {"type": "exec", "command": f"sh -c 'touch {marker}'", "config": {}}


def engine_body(path: str, source: dict[str, Any]) -> dict[str, Any]:
    pipeline = {"source": source, "destination": {"type": "test"}}
    return {"pipeline": pipeline, "side": "source"} if path == "/check" else {"pipeline": pipeline}


def one_line_error(response: httpx.Response, status: int, *phrases: str) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message
    return message


@pytest.mark.parametrize("path", ["/check", "/discover", "/sync"])
def test_the_engine_api_refuses_commands_and_modules_it_was_not_given(tmp_path, path):
    sys.modules.pop(MARKER_MODULE, None)
    marker = tmp_path / "MARKER"
    with engine_in_thread() as url:
        refused = httpx.post(url + path, json=engine_body(path, exec_side(marker)))
        one_line_error(refused, 400, "exec command not allowed", "--allow-connector")
        dotted = httpx.post(url + path, json=engine_body(path, {"type": DOTTED}))
        one_line_error(dotted, 400, f"'{DOTTED}' not allowed")
    assert not marker.exists()
    assert MARKER_MODULE not in sys.modules


def test_the_engine_api_runs_what_the_operator_listed(tmp_path):
    marker = tmp_path / "MARKER"
    allowed = ConnectorPolicy.allowing([exec_side(marker)["command"], DOTTED])
    with engine_in_thread(connectors=allowed) as url:
        ran = httpx.post(url + "/discover", json=engine_body("/discover", exec_side(marker)))
        one_line_error(ran, 422, "printed no 'spec' message")  # touch is no connector
        loaded = httpx.post(url + "/discover", json=engine_body("/discover", {"type": DOTTED}))
        assert loaded.status_code == 200, loaded.text
    assert marker.exists()
    assert MARKER_MODULE in sys.modules


def test_health_answers_while_a_slow_connector_call_runs(tmp_path):
    started = tmp_path / "STARTED"
    command = f"sh -c 'touch {started}; sleep 3'"  # its `spec` takes 3 s
    source = {"type": "exec", "command": command, "config": {}}
    answers: list[httpx.Response] = []
    with engine_in_thread(connectors=ConnectorPolicy.allowing([command])) as url:
        slow = threading.Thread(
            target=lambda: answers.append(
                httpx.post(url + "/check", json=engine_body("/check", source), timeout=30)
            )
        )
        slow.start()
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline, "the slow call never started"
            time.sleep(0.01)
        with httpx.Client(base_url=url) as client:
            client.get("/health")  # the connection is open: what follows is the answer alone
            for _ in range(10):
                asked = time.monotonic()
                assert client.get("/health").status_code == 200
                assert time.monotonic() - asked < 0.1
                time.sleep(0.1)
        assert slow.is_alive()  # the slow call was still in progress all along
        slow.join(timeout=30)
    one_line_error(answers[0], 422, "printed no 'spec' message")


def test_serve_engine_will_not_listen_beyond_loopback_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_SYNC_ENGINE_TOKEN"}
    command = [sys.executable, "-m", "stripe_sync.cli.main", "serve-engine"]
    done = subprocess.run(
        [*command, "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "--api-token" in done.stderr
    assert "listening" not in done.stdout


@pytest.fixture
def service_api(tmp_path):
    def app(connectors: ConnectorPolicy) -> httpx.AsyncClient:
        async def no_temporal() -> Any:
            raise AssertionError("no request of these tests reaches Temporal")

        store = open_store(f"sqlite:///{tmp_path / 'pipelines.db'}", Sealer([new_key()]))
        created = create_service_app(store, no_temporal, api_token=TOKEN, connectors=connectors)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=created),
            base_url="http://service",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    return app


@pytest.mark.parametrize("allowed", [False, True], ids=["not listed", "listed"])
async def test_the_service_api_never_runs_or_imports_an_external_connector(
    tmp_path, service_api, allowed
):
    sys.modules.pop(MARKER_MODULE, None)
    marker = tmp_path / "MARKER"
    listed = [exec_side(marker)["command"], DOTTED] if allowed else []
    async with service_api(ConnectorPolicy.allowing(listed)) as client:
        for source in (exec_side(marker), {"type": DOTTED}):
            discovered = await client.post("/connectors/discover", json=source)
            phrase = "runs on workers only" if allowed else "not allowed"
            one_line_error(discovered, 400, phrase)
            if not allowed:
                pipeline = {"name": "p", "source": source, "destination": {"type": "test"}}
                one_line_error(await client.post("/pipelines", json=pipeline), 400, "not allowed")
    assert not marker.exists()
    assert MARKER_MODULE not in sys.modules
