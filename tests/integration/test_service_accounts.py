"""A platform pipeline in the service: one child workflow per connected account, at most
``max_parallel_accounts`` backfilling at once.

`service api` and `service worker` processes, the Temporal dev server, a Postgres store and
destination, the fake Stripe server with six connected accounts (the last one denied). The
pipeline starts with five of them (an explicit list), then covers them all (``accounts: "all"``
and a new run): the new account gets a child too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe
from tests.support.temporal import ServiceClient, service_processes

from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.service.platform_workflow import PlatformWorkflow
from stripe_sync.service.workflow_types import (
    PlatformWorkflowInput,
    account_workflow_id,
    workflow_id,
)
from stripe_sync.sources.stripe.webhook_signature import sign

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "sk_test_platformkey"
WEBHOOK_SECRET = "whsec_platformsecret"
STREAMS = ["customers", "products"]
SCHEMA = "platform"
MAX_PARALLEL = 2


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    objects = {"customers": 400, "products": 60}
    with fake_stripe(
        objects, connected_accounts=6, denied_accounts=1, api_keys=[KEY], latency_ms=15
    ) as server:
        yield server


def stripe(fake: FakeStripe, method: str, path: str, account: str, **kwargs: Any) -> Any:
    """A request to the fake for one connected account."""
    headers = {"Authorization": f"Bearer {KEY}", "Stripe-Account": account}
    response = httpx.request(method, f"{fake.url}{path}", headers=headers, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def rows_by_account(url: str, stream: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        query = f'SELECT _account_id, count(*) FROM "{SCHEMA}"."{stream}" GROUP BY _account_id'
        return dict(conn.execute(query).fetchall())


def name_of(url: str, stream: str, object_id: str, account: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f'SELECT name FROM "{SCHEMA}"."{stream}" WHERE id = %s AND _account_id = %s',
            (object_id, account),
        ).fetchone()
    return None if row is None else row[0]


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.25)


def most_backfilling_at_once(runs: list[dict[str, Any]]) -> int:
    """How many accounts were in their first backfill at once, from the recorded calls: an
    account's first backfill spans its backfill calls before its first live call."""
    spans: dict[str, list[str]] = {}
    live: set[str] = set()
    for run in sorted(runs, key=lambda r: r["started_at"]):
        account = run["account"]
        if run["mode"] == "live":
            live.add(account)
        elif account not in live:
            span = spans.setdefault(account, [run["started_at"], run["started_at"]])
            span[1] = max(span[1], run.get("ended_at") or "9999")
    moments = sorted(
        [(start, 1) for start, _ in spans.values()] + [(end, -1) for _, end in spans.values()]
    )
    running = most = 0
    for _, step in moments:  # an end sorts before a start at the same moment
        running += step
        most = max(most, running)
    return most


async def workflow_statuses(address: str, pipeline_id: str, accounts: list[str]) -> set[Any]:
    client = await Client.connect(address)
    found = set()
    for account in accounts:
        described = await client.get_workflow_handle(
            account_workflow_id(pipeline_id, account)
        ).describe()
        found.add(described.status)
    return found


async def restart_parent(address: str, pipeline_id: str) -> None:
    """Replace the platform pipeline's workflow by a new one that remembers nothing, lists the
    accounts twice a second and continues as new after 60 history events."""
    client = await Client.connect(address)
    await client.get_workflow_handle(workflow_id(pipeline_id)).terminate("test: a lost workflow")
    await client.start_workflow(
        PlatformWorkflow.run,
        PlatformWorkflowInput(pipeline_id, history_limit=60, list_every_s=0.5),
        id=workflow_id(pipeline_id),
        task_queue="accounts",
    )


async def parent_runs(address: str, pipeline_id: str) -> int:
    client = await Client.connect(address)
    query = f"WorkflowId = '{workflow_id(pipeline_id)}'"
    return len([execution async for execution in client.list_workflows(query)])


def test_a_platform_pipeline_fans_out_per_account_with_bounded_parallelism(
    fake: FakeStripe, postgres_server: PostgresServer, temporal_address: str, tmp_path
):
    store_url = postgres_server.create_database("accounts_store")
    destination_url = postgres_server.create_database("accounts_destination")
    accounts = fake.api.connected
    denied = accounts[-1]
    later = accounts[1]  # left out of the first list, covered once the pipeline takes them all
    first = [account for account in accounts if account != later]
    allowed = [account for account in accounts if account != denied]
    spec = {
        "name": SCHEMA,
        "source": {
            "type": "stripe",
            "config": {
                "api_key": KEY,
                "base_url": fake.url,
                "accounts": first,
                "max_requests_per_second": 0,
                "poll_interval": 1,
                "webhook_secrets": [WEBHOOK_SECRET],
            },
        },
        "destination": {"type": "postgres", "config": {"url": destination_url, "schema": SCHEMA}},
        "streams": STREAMS,
        "max_parallel_accounts": MAX_PARALLEL,
    }
    with service_processes(
        tmp_path, store_url=store_url, temporal_address=temporal_address, task_queue="accounts"
    ) as (api, _):
        client = ServiceClient(api.line_with("listening").split()[1])
        created = client.post("/pipelines", json=spec)
        assert created.status_code == 201, created.text
        pipeline_id = created.json()["id"]
        assert created.json()["max_parallel_accounts"] == MAX_PARALLEL

        # every allowed account goes live, the denied one parks alone
        settled = client.wait_for(
            pipeline_id,
            lambda p: p["status"] == "live" and len(p["accounts"]) == len(first),
            timeout=60,
            what="every account's first backfill over",
        )
        shown = settled["accounts"]
        assert list(shown) == first  # in list order
        assert shown[denied]["status"] == "error"
        assert "permission_error" in shown[denied]["reason"]
        assert {shown[a]["status"] for a in first if a != denied} == {"live"}
        runs = client.get(f"/pipelines/{pipeline_id}/runs", params={"limit": 500}).json()["runs"]
        assert {run["account"] for run in runs} == set(first)
        assert most_backfilling_at_once(runs) == MAX_PARALLEL  # used, never exceeded
        # the platform's progress folds its accounts' progress, grouped by account
        progress = client.get(f"/pipelines/{pipeline_id}").json()["progress"]
        assert set(progress["accounts"]) == set(first)
        assert progress["accounts"][denied]["status"] == "failed"
        for account in first:
            if account != denied:
                objects = sum(len(fake.api.accounts[account].streams[s]) for s in STREAMS)
                assert progress["accounts"][account]["status"] == "complete"
                backfills = [r for r in runs if r["account"] == account and r["mode"] == "backfill"]
                assert max(run["record_count"] for run in backfills) == objects
        # live accounts show their live call's own records, the lifetime holds every record
        assert progress["record_count"] == sum(
            entry["record_count"] for entry in progress["accounts"].values()
        )
        assert progress["lifetime"]["record_count"] == sum(
            len(fake.api.accounts[a].streams[s]) for a in first if a != denied for s in STREAMS
        )

        # a new account is picked up by a new run
        patch = {"source": {"config": {"accounts": "all"}}}
        assert client.request("PATCH", f"/pipelines/{pipeline_id}", json=patch).is_success
        assert client.post(f"/pipelines/{pipeline_id}/sync").status_code == 202
        client.wait_for(
            pipeline_id,
            lambda p: (p["accounts"].get(later) or {}).get("status") == "live",
            timeout=40,
            what=f"{later} live",
        )
        for stream in STREAMS:
            expected = {a: len(fake.api.accounts[a].streams[stream]) for a in allowed}
            assert rows_by_account(destination_url, stream) == expected

        # a change in one account reaches its child (events), a webhook for another too
        customer = stripe(fake, "GET", "/v1/customers?limit=1", accounts[2])["data"][0]["id"]
        stripe(fake, "POST", f"/v1/customers/{customer}", accounts[2], data={"name": "Polled"})
        product = stripe(fake, "GET", "/v1/products?limit=1", accounts[0])["data"][0]
        event = {
            "id": "evt_platform_1",
            "object": "event",
            "type": "product.updated",
            "account": accounts[0],
            "created": int(time.time()),
            "data": {"object": {**product, "name": "Renamed By Webhook"}},
        }
        payload = orjson.dumps(event)
        delivered = httpx.post(
            str(client.http.base_url.join(f"/webhooks/{pipeline_id}")),
            content=payload,
            headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)},
        )
        assert delivered.status_code == 200, delivered.text
        wait_until(
            lambda: name_of(destination_url, "customers", customer, accounts[2]) == "Polled",
            "polled change",
        )
        wait_until(
            lambda: (
                name_of(destination_url, "products", product["id"], accounts[0])
                == "Renamed By Webhook"
            ),
            "webhook change",
        )
        runs = client.get(f"/pipelines/{pipeline_id}/runs", params={"limit": 500}).json()["runs"]
        with_events = {run["account"] for run in runs if run["event_count"]}
        assert with_events == {accounts[0]}

        # a parent started anew adopts the running children; it continues as new, listing often
        backfills = sum(run["mode"] == "backfill" for run in runs)
        asyncio.run(restart_parent(temporal_address, pipeline_id))
        wait_until(
            lambda: asyncio.run(parent_runs(temporal_address, pipeline_id)) >= 3,
            "continue-as-new",
        )
        client.wait_for(
            pipeline_id,
            lambda p: p["status"] == "live" and len(p["accounts"]) == len(accounts),
            timeout=30,
            what="every account adopted",
        )
        runs = client.get(f"/pipelines/{pipeline_id}/runs", params={"limit": 500}).json()["runs"]
        assert sum(run["mode"] == "backfill" for run in runs) == backfills

        # pause and resume reach every child
        assert client.post(f"/pipelines/{pipeline_id}/pause").status_code == 202
        client.wait_for(
            pipeline_id,
            lambda p: (
                p["status"] == "paused"
                and all(p["accounts"][a]["status"] == "paused" for a in allowed)
            ),
            timeout=20,
            what="every account paused",
        )
        assert client.post(f"/pipelines/{pipeline_id}/resume").status_code == 202
        client.wait_for(
            pipeline_id,
            lambda p: all(p["accounts"][a]["status"] == "live" for a in allowed),
            timeout=30,
            what="every allowed account live again",
        )

        # delete: the children end, then the tables and the pipeline go
        assert client.request("DELETE", f"/pipelines/{pipeline_id}").status_code == 202
        # every child ends its live call and forgets its state first; on a loaded 2-core
        # machine that has taken just over 30 s
        wait_until(
            lambda: client.get(f"/pipelines/{pipeline_id}").status_code == 404, "deletion", 60
        )
        statuses = asyncio.run(workflow_statuses(temporal_address, pipeline_id, accounts))
        assert statuses == {WorkflowExecutionStatus.COMPLETED}
        with psycopg.connect(destination_url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (SCHEMA,),
            ).fetchall()
        assert tables == []
        client.close()
