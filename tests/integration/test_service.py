"""The service end to end: `stripe-sync service api` and `service worker` processes, the Temporal
dev server, a Postgres pipeline store and destination, the fake Stripe API.

One API and one worker serve every test of this module (each test makes its own pipelines, each
in its own destination schema); the last test scans every answer, log line and workflow history
for the secrets the pipelines were given.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from temporalio.client import Client, WorkflowHistory
from tests.support.engine import HARNESS
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe
from tests.support.temporal import ServiceClient, ServiceProcess, service_processes

from stripe_sync.connectors.testing.destination import load_rows
from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.reconcile.verify import verify
from stripe_sync.service.workflow_types import Carry, PipelineWorkflowInput, workflow_id
from stripe_sync.service.workflows import PipelineWorkflow
from stripe_sync.sources.stripe.webhook_signature import sign

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "sk_test_servicekey4242"
BAD_KEY = "sk_test_wrongkey9999"
RESTRICTED = "rk_test_noprices7777"
WEBHOOK_SECRET = "whsec_servicesecret31337"
DB_PASSWORD = "dbpassword8675309"
SECRETS = (KEY, BAD_KEY, RESTRICTED, WEBHOOK_SECRET, DB_PASSWORD)
STREAMS = ["customers", "products", "prices"]
EXEC_SOURCE = f"{HARNESS} source test"


@dataclass
class Service:
    client: ServiceClient
    api: ServiceProcess
    workers: list[ServiceProcess]
    fake: FakeStripe
    destination_url: str
    temporal_address: str
    pipeline_ids: list[str]
    store_url: str

    def spec(self, schema: str, *, key: str = KEY, streams: list[str] = STREAMS) -> dict[str, Any]:
        return {
            "name": schema,
            "source": {
                "type": "stripe",
                "config": {
                    "api_key": key,
                    "base_url": self.fake.url,
                    "max_requests_per_second": 0,
                    "poll_interval": 1,
                    "webhook_secrets": [WEBHOOK_SECRET],
                },
            },
            "destination": {
                "type": "postgres",
                "config": {"url": self.destination_url, "schema": schema},
            },
            "streams": streams,
        }

    def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/pipelines", json=spec)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        self.pipeline_ids.append(created["id"])
        return created

    def ids_in(self, schema: str, stream: str) -> set[str]:
        with psycopg.connect(self.destination_url) as conn:
            rows = conn.execute(f'SELECT id FROM "{schema}"."{stream}"').fetchall()
        return {row[0] for row in rows}

    def name_of(self, schema: str, stream: str, object_id: str) -> str | None:
        with psycopg.connect(self.destination_url) as conn:
            row = conn.execute(
                f'SELECT name FROM "{schema}"."{stream}" WHERE id = %s', (object_id,)
            ).fetchone()
        return None if row is None else row[0]

    def stripe(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request to the fake Stripe API with the pipelines' key."""
        headers = {"Authorization": f"Bearer {KEY}"}
        response = httpx.request(method, f"{self.fake.url}{path}", headers=headers, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for_name(self, schema: str, stream: str, object_id: str, name: str) -> None:
        deadline = time.monotonic() + 30
        while self.name_of(schema, stream, object_id) != name:
            assert time.monotonic() < deadline, f"{stream} {object_id} never became {name!r}"
            time.sleep(0.25)

    def tables(self, schema: str) -> set[str]:
        with psycopg.connect(self.destination_url) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        return {row[0] for row in rows}

    def verify(self, spec: dict[str, Any], streams: list[str]) -> None:
        reports = asyncio.run(
            verify(
                spec["source"]["config"],
                spec["destination"]["config"],
                streams,
                lt=int(time.time()),
            )
        )
        assert all(report.equal for report in reports), [r.lines() for r in reports]

    def unauthorized_count(self) -> int:
        requests = self.fake.stats()["requests"]
        return sum(counts.get("401", 0) for counts in requests.values())


def store_rows(store_url: str) -> str:
    """Every row of every table of the pipeline store, as the database holds it."""
    with psycopg.connect(store_url) as conn:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        tables = [row[0] for row in conn.execute(query).fetchall()]
        assert "pipelines" in tables
        return repr([conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables])


def history_text(history: WorkflowHistory) -> str:
    """A history as JSON, followed by its payloads decoded (JSON shows them in base64)."""
    text = history.to_json()
    payloads = re.findall(r'"data": "([A-Za-z0-9+/=]+)"', text)
    return "\n".join([text, *(base64.b64decode(p).decode("utf-8", "replace") for p in payloads)])


async def histories(address: str, pipeline_ids: list[str]) -> list[WorkflowHistory]:
    """Every run's history of the pipelines' workflows (continued-as-new runs included)."""
    client = await Client.connect(address)
    found = []
    for pipeline_id in pipeline_ids:
        query = f"WorkflowId = '{workflow_id(pipeline_id)}'"
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            found.append(await handle.fetch_history())
    return found


@pytest.fixture(scope="module")
def service(
    postgres_server: PostgresServer, temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    store_url = postgres_server.create_database("service_store")
    destination = postgres_server.create_database("service_destination")
    destination_url = destination.replace("postgres@", f"postgres:{DB_PASSWORD}@")
    objects = {"customers": 150, "products": 30, "prices": 40}
    fake = fake_stripe(objects, api_keys=[KEY], restricted_keys={RESTRICTED: frozenset({"prices"})})
    tmp_path = tmp_path_factory.mktemp("service")
    with (
        fake,
        service_processes(
            tmp_path,
            store_url=store_url,
            temporal_address=temporal_address,
            task_queue="service-tests",
            allow_connectors=(EXEC_SOURCE,),
        ) as (api, workers),
    ):
        client = ServiceClient(api.line_with("listening").split()[1])
        yield Service(client, api, workers, fake, destination_url, temporal_address, [], store_url)
        client.close()


def test_create_backfill_sync_pause_resume_delete(service: Service):
    spec = service.spec("lifecycle")
    created = service.create(spec)
    assert created["status"] in ("setup", "backfilling", "live")
    assert created["source"]["config"]["api_key"] == "********"
    pipeline_id = created["id"]

    live = service.client.wait_status(pipeline_id, "live")
    assert {name: entry["status"] for name, entry in live["progress"]["streams"].items()} == {
        name: "complete" for name in STREAMS
    }
    service.verify(spec, STREAMS)

    # live: a change made in Stripe reaches the destination through the events
    customer = service.stripe("GET", "/v1/customers?limit=1")["data"][0]["id"]
    service.stripe("POST", f"/v1/customers/{customer}", data={"name": "Changed Live"})
    service.wait_for_name("lifecycle", "customers", customer, "Changed Live")

    # a new run asked for over the API
    made = service.stripe("POST", "/v1/customers", data={"name": "Made After Backfill"})
    assert service.client.post(f"/pipelines/{pipeline_id}/sync").status_code == 202
    service.wait_for_name("lifecycle", "customers", made["id"], "Made After Backfill")
    deadline = time.monotonic() + 60  # the new run starts once the live call has stopped
    while True:
        runs = service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        backfills = [run for run in runs if run["mode"] == "backfill" and run.get("reason")]
        if len({run["sync_run_id"] for run in backfills}) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len({run["sync_run_id"] for run in backfills}) == 2  # the backfill, then a new run
    service.client.wait_status(pipeline_id, "live")

    # pause: the live call ends, no new call starts
    paused = service.client.post(f"/pipelines/{pipeline_id}/pause")
    assert paused.status_code == 202
    service.client.wait_status(pipeline_id, "paused", timeout=20)
    service.client.wait_for(
        pipeline_id,
        lambda _: all(
            r.get("ended_at")
            for r in service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        ),
        timeout=20,
        what="every call ended",
    )
    count = len(service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"])
    time.sleep(4)
    assert len(service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]) == count
    assert service.client.pipeline(pipeline_id)["desired_status"] == "paused"

    # resume: live calls again
    assert service.client.post(f"/pipelines/{pipeline_id}/resume").status_code == 202
    service.client.wait_status(pipeline_id, "live", timeout=20)
    service.client.wait_for(
        pipeline_id,
        lambda _: len(service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]) > count,
        timeout=20,
        what="a new call after resume",
    )

    # delete: tables dropped, pipeline gone
    assert service.tables("lifecycle") >= set(STREAMS)
    deleted = service.client.request("DELETE", f"/pipelines/{pipeline_id}")
    assert deleted.status_code == 202
    assert deleted.json()["status"] in ("deleting", "live")
    deadline = time.monotonic() + 30
    while service.client.get(f"/pipelines/{pipeline_id}").status_code != 404:
        assert time.monotonic() < deadline, "the pipeline was not deleted"
        time.sleep(0.25)
    assert not service.tables("lifecycle") & {*STREAMS, "_sync_state"}


def test_invalid_key_parks_the_pipeline_until_patched_and_resumed(service: Service):
    before = service.unauthorized_count()
    spec = service.spec("badkey", key=BAD_KEY)
    pipeline_id = service.create(spec)["id"]
    parked = service.client.wait_status(pipeline_id, "error")
    assert "auth_error" in parked["reason"] and "Invalid API Key" in parked["reason"]
    time.sleep(3)  # parked: nothing is retried
    assert service.unauthorized_count() - before <= 3
    assert service.client.pipeline(pipeline_id)["status"] == "error"

    read = service.client.get(f"/pipelines/{pipeline_id}")
    stale = read.headers["ETag"]
    patch = {"source": {"config": {"api_key": KEY}}}
    patched = service.client.request(
        "PATCH", f"/pipelines/{pipeline_id}", json=patch, headers={"If-Match": stale}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] != stale
    again = service.client.request(
        "PATCH", f"/pipelines/{pipeline_id}", json={"name": "x"}, headers={"If-Match": stale}
    )
    assert again.status_code == 412
    assert service.client.pipeline(pipeline_id)["status"] == "error"  # until resumed

    assert service.client.post(f"/pipelines/{pipeline_id}/resume").status_code == 202
    service.client.wait_status(pipeline_id, "live")
    service.verify({**spec, **service.spec("badkey")}, STREAMS)
    assert service.unauthorized_count() - before <= 3


def test_an_unreachable_destination_is_retried_until_it_answers(service: Service):
    spec = service.spec("unreachable")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    good_url = spec["destination"]["config"]["url"]
    spec["destination"]["config"]["url"] = f"postgresql://postgres@127.0.0.1:{closed_port}/x"
    pipeline_id = service.create(spec)["id"]
    retrying = service.client.wait_for(
        pipeline_id, lambda p: p["last_error"] is not None, timeout=30, what="an error"
    )
    assert retrying["last_error"]["failure_type"] == "transient_error"
    assert "does not answer" in retrying["last_error"]["hint"]  # and names the destination url
    assert "destination url" in retrying["last_error"]["hint"]
    assert retrying["status"] == "setup"  # not parked: Temporal retries the call
    patch = {"destination": {"config": {"url": good_url}}}
    assert service.client.request("PATCH", f"/pipelines/{pipeline_id}", json=patch).is_success
    service.client.wait_status(pipeline_id, "live", timeout=60)  # no resume needed
    service.verify(service.spec("unreachable"), STREAMS)


def test_a_destination_refusing_its_credentials_parks_the_pipeline(service: Service):
    spec = service.spec("refused", streams=["products"])
    good_url = spec["destination"]["config"]["url"]
    spec["destination"]["config"]["url"] = good_url.replace("postgres:", "nobody:", 1)
    pipeline_id = service.create(spec)["id"]
    parked = service.client.wait_status(pipeline_id, "error")
    assert parked["reason"].startswith("auth_error: ")
    patch = {"destination": {"config": {"url": good_url}}}
    assert service.client.request("PATCH", f"/pipelines/{pipeline_id}", json=patch).is_success
    assert service.client.post(f"/pipelines/{pipeline_id}/resume").status_code == 202
    service.client.wait_status(pipeline_id, "live")


def test_a_stream_refused_403_fails_alone_and_is_retried_later(service: Service):
    spec = service.spec("restricted", key=RESTRICTED)
    pipeline_id = service.create(spec)["id"]
    live = service.client.wait_status(pipeline_id, "live")
    streams = live["progress"]["streams"]
    assert streams["prices"]["status"] == "failed"
    assert "rak_price_read" in str(streams["prices"]["errors"])
    assert streams["customers"]["status"] == streams["products"]["status"] == "complete"
    assert live["stream_retry_at"] is not None
    service.verify(spec, ["customers", "products"])


def test_webhooks_are_signed_and_applied_once(service: Service):
    pipeline_id = service.create(service.spec("webhooks", streams=["products"]))["id"]
    service.client.wait_status(pipeline_id, "live")
    product = service.stripe("GET", "/v1/products?limit=1")["data"][0]
    event = {
        "id": "evt_service_1",
        "object": "event",
        "type": "product.updated",
        "created": int(time.time()),
        "data": {"object": {**product, "name": "Renamed By Webhook"}},
    }
    payload = orjson.dumps(event)
    url = f"/webhooks/{pipeline_id}"
    plain = httpx.Client(base_url=str(service.client.http.base_url))  # no bearer token

    refused = plain.post(url, content=payload, headers={"Stripe-Signature": "t=1,v1=00"})
    assert refused.status_code == 400
    wrong = sign(payload, "whsec_other")
    assert plain.post(url, content=payload, headers={"Stripe-Signature": wrong}).status_code == 400
    assert plain.post("/webhooks/pl_unknown", content=payload).status_code == 400
    huge = orjson.dumps({**event, "data": {"object": {**product, "name": "x" * 600_000}}})
    too_big = plain.post(
        url, content=huge, headers={"Stripe-Signature": sign(huge, WEBHOOK_SECRET)}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["message"] == "webhook refused: the body exceeds 524288 bytes"

    good = sign(payload, WEBHOOK_SECRET)
    for _ in range(2):  # Stripe may deliver an event twice
        accepted = plain.post(url, content=payload, headers={"Stripe-Signature": good})
        assert accepted.status_code == 200, accepted.text

    def delivered() -> int:
        runs = service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
        return sum(run["event_count"] for run in runs)

    deadline = time.monotonic() + 30
    while delivered() == 0:
        assert time.monotonic() < deadline, "the event never reached a live call"
        time.sleep(0.25)
    time.sleep(4)  # the next live calls carry nothing more
    assert delivered() == 1
    service.wait_for_name("webhooks", "products", product["id"], "Renamed By Webhook")

    history = asyncio.run(histories(service.temporal_address, [pipeline_id]))[0]
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals.count("webhook_event") == 2  # both good deliveries; the bad ones never
    assert "evt_service_1" in history_text(history)  # the history holds the event's id only
    assert "Renamed By Webhook" not in history_text(history)
    with psycopg.connect(service.store_url) as conn:  # delivered: no longer kept
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (0,)
    plain.close()


def test_the_api_needs_its_token(service: Service):
    url = str(service.client.http.base_url)
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/openapi.json").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.get(f"{url}/pipelines", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    invalid = service.client.post("/pipelines", json={"source": {"type": "nope"}})
    assert invalid.status_code == 400
    assert service.client.get("/pipelines/pl_missing").status_code == 404


def test_progress_streams_the_display_model(service: Service):
    pipeline_id = service.pipeline_ids[-1]
    with service.client.http.stream("GET", f"/pipelines/{pipeline_id}/progress") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "event: progress"
        data = orjson.loads(next(lines).removeprefix("data: "))
    assert data["status"] == "live"
    view = data["view"]
    assert [row["name"] for row in view["rows"]] == ["products"]
    assert view["rows"][0]["status"] == "complete"
    assert view["pipeline"] == pipeline_id


def test_a_long_history_continues_as_new_and_keeps_its_state(service: Service):
    pipeline_id = service.create(service.spec("continued", streams=["products"]))["id"]
    service.client.wait_status(pipeline_id, "live")
    asyncio.run(restart_with_history_limit(service.temporal_address, pipeline_id, 25))

    def runs_of_workflow() -> int:
        return len(asyncio.run(histories(service.temporal_address, [pipeline_id])))

    deadline = time.monotonic() + 60
    while runs_of_workflow() < 3:  # the API's run, the restarted one, a continuation
        assert time.monotonic() < deadline, "the workflow never continued as new"
        time.sleep(1)
    assert service.client.pipeline(pipeline_id)["status"] == "live"
    runs = service.client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]
    assert [run["mode"] for run in runs].count("backfill") == 1  # the state was carried over


async def restart_with_history_limit(address: str, pipeline_id: str, limit: int) -> None:
    """Replace the pipeline's workflow by one that continues as new after ``limit`` events."""
    client = await Client.connect(address)
    handle = client.get_workflow_handle(workflow_id(pipeline_id))
    await handle.terminate("test: restart with a small history limit")
    carry = Carry(set_up=True, backfill_pending=False)
    await client.start_workflow(
        PipelineWorkflow.run,
        PipelineWorkflowInput(pipeline_id, carry, history_limit=limit),
        id=workflow_id(pipeline_id),
        task_queue="service-tests",
    )


def test_a_workflow_started_again_respects_a_pause(service: Service):
    pipeline_id = service.create(service.spec("restarted", streams=["products"]))["id"]
    service.client.wait_status(pipeline_id, "live")
    assert service.client.post(f"/pipelines/{pipeline_id}/pause").status_code == 202
    service.client.wait_status(pipeline_id, "paused")
    asyncio.run(terminate(service.temporal_address, pipeline_id))
    assert service.client.post(f"/pipelines/{pipeline_id}/sync").status_code == 202  # starts one
    time.sleep(2)
    assert service.client.pipeline(pipeline_id)["status"] == "paused"
    assert service.client.post(f"/pipelines/{pipeline_id}/resume").status_code == 202
    service.client.wait_status(pipeline_id, "live")


async def terminate(address: str, pipeline_id: str) -> None:
    client = await Client.connect(address)
    await client.get_workflow_handle(workflow_id(pipeline_id)).terminate("test: lost workflow")


def test_an_allowed_exec_source_is_validated_and_run_on_the_workers(service: Service, tmp_path):
    rows = tmp_path / "rows.jsonl"
    source = {"type": "exec", "command": EXEC_SOURCE, "config": {"streams": {"items": {}}}}
    spec = {"name": "exec", "source": source, "destination": {"type": "test"}}
    spec["destination"]["config"] = {"path": str(rows)}
    spec["source"]["config"]["streams"]["items"] = {"records": 12}
    created = service.create(spec)
    assert created["source"]["config"] == {"streams": "********"}  # its spec is not asked here
    service.client.wait_status(created["id"], "live")
    assert len(load_rows(rows)) == 12

    # its config is checked where it runs: a bad one parks the pipeline
    bad = {**spec, "source": {**source, "config": {"streams": {"items": {"records": -1}}}}}
    parked = service.client.wait_status(service.create(bad)["id"], "error")
    assert parked["reason"].startswith("config_error: invalid source config: streams.items")

    other = {**spec, "source": {**source, "command": f"{EXEC_SOURCE} --other"}}
    refused = service.client.post("/pipelines", json=other)
    assert refused.status_code == 400
    assert "exec command not allowed" in refused.json()["error"]["message"]


def test_the_api_answers_while_a_slow_connector_call_runs(service: Service, tmp_path):
    # the Stripe source reads its OpenAPI spec from a FIFO: the call waits until we write to it
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    spec = service.spec("slowspec")
    spec["source"]["config"]["spec_path"] = str(fifo)
    answers: list[httpx.Response] = []
    url = str(service.client.http.base_url)
    headers = service.client.http.headers
    creating = threading.Thread(
        target=lambda: answers.append(httpx.post(f"{url}/pipelines", json=spec, headers=headers))
    )
    creating.start()
    deadline = time.monotonic() + 10
    while True:  # a writer can open the FIFO once the API's call opened it for reading
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert time.monotonic() < deadline, "the API never read the spec"
            time.sleep(0.01)
    with httpx.Client(base_url=url) as health:
        health.get("/health")  # connected: what follows times the answer alone
        for _ in range(10):
            asked = time.monotonic()
            assert health.get("/health").status_code == 200
            assert time.monotonic() - asked < 0.1
            time.sleep(0.05)
    assert creating.is_alive()  # the call was in progress all along
    os.write(writer, b"not json")
    os.close(writer)
    creating.join(timeout=30)
    assert answers[0].status_code == 400
    message = answers[0].json()["error"]["message"]
    assert "is not JSON" in message and "\n" not in message


def test_pause_and_sync_now_during_failing_calls_never_fail_the_workflow(service: Service):
    spec = service.spec("failing", streams=["products"])
    pipeline_id = service.create(spec)["id"]
    service.client.wait_status(pipeline_id, "live")
    with socket.socket() as sock:  # its database goes away: every call fails, and is retried
        sock.bind(("127.0.0.1", 0))
        gone = f"postgresql://postgres@127.0.0.1:{sock.getsockname()[1]}/x"
    patch = {"destination": {"config": {"url": gone}}}
    assert service.client.request("PATCH", f"/pipelines/{pipeline_id}", json=patch).is_success
    failing = service.client.wait_for(
        pipeline_id, lambda p: p["last_error"] is not None, timeout=60, what="a failing call"
    )
    assert failing["last_error"]["failure_type"] == "transient_error"
    for command, status in (
        ("sync", None),
        ("pause", "paused"),
        ("sync", "paused"),
        ("resume", None),
    ):
        assert service.client.post(f"/pipelines/{pipeline_id}/{command}").status_code == 202
        time.sleep(2)  # the command reaches a call that is failing, or waiting for its retry
        if status is not None:
            service.client.wait_status(pipeline_id, status, timeout=30)
        assert asyncio.run(workflow_state(service.temporal_address, pipeline_id)) == "RUNNING"
    assert service.client.pipeline(pipeline_id)["status"] in ("backfilling", "live")
    patch = {"destination": {"config": {"url": spec["destination"]["config"]["url"]}}}
    assert service.client.request("PATCH", f"/pipelines/{pipeline_id}", json=patch).is_success
    service.client.wait_for(
        pipeline_id,
        lambda p: p["status"] == "live" and p["last_error"] is None,
        timeout=60,
        what="live again",
    )


async def workflow_state(address: str, pipeline_id: str) -> str:
    client = await Client.connect(address)
    described = await client.get_workflow_handle(workflow_id(pipeline_id)).describe()
    assert described.status is not None
    return described.status.name


def test_no_secret_in_answers_logs_or_workflow_histories(service: Service):
    listed = service.client.get("/pipelines")
    assert listed.status_code == 200
    texts = list(service.client.bodies)
    texts += [process.logs() for process in (service.api, *service.workers)]
    texts += [
        history_text(history)
        for history in asyncio.run(histories(service.temporal_address, service.pipeline_ids))
    ]
    texts += [store_rows(service.store_url)]
    assert len(texts) > 2 * len(service.pipeline_ids)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
