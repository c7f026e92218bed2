"""The service API's failures are JSON with a one-line message, never a bare 500 traceback: a
store that is down (503), a store without its tables (500 naming the exception).
The API runs in this process over a real Postgres; no request here reaches Temporal."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from stripe_sync.service.sealing import Sealer, new_key
from stripe_sync.service.service_api import create_service_app
from stripe_sync.service.store import open_store

pytestmark = pytest.mark.postgres

TOKEN = "errors-token"


def client_for(store_url: str) -> httpx.AsyncClient:
    async def no_temporal() -> Any:
        raise AssertionError("no request of these tests reaches Temporal")

    app = create_service_app(
        open_store(store_url, Sealer([new_key()])), no_temporal, api_token=TOKEN
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://service",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert "\n" not in error["message"]
    return error


async def test_a_store_that_is_down_is_a_503(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with client_for(f"postgresql://postgres@127.0.0.1:{closed}/x") as client:
        error = error_of(await client.get("/pipelines"), 503)
        assert error == {
            "level": "global",
            "failure_type": "transient_error",
            "message": "the pipeline store is unreachable; try again",
        }
        assert (await client.get("/health")).status_code == 200
    assert "Traceback" not in caplog.text


async def test_an_unexpected_failure_is_a_500_naming_it(postgres_db_url, caplog):
    async with client_for(postgres_db_url) as client:  # never migrated: no tables
        error = error_of(await client.get("/pipelines/pl_1"), 500)
    assert error["failure_type"] == "system_error"
    assert error["message"] == "internal error: UndefinedTable"
    assert "GET /pipelines/pl_1 failed: UndefinedTable" in caplog.text
    assert "Traceback" not in caplog.text
