"""Two worker processes share ten pipelines; one is killed (-9) in the middle of the backfill.

Its calls time out (heartbeat), Temporal retries them on the other worker, which resumes from the
destination's ``_sync_state``; every pipeline then reaches ``live`` and ``verify`` finds the
destination equal to the API.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from tests.support.postgres import PostgresServer
from tests.support.stripe import fake_stripe
from tests.support.temporal import ServiceClient, service_processes

from stripe_sync.reconcile.verify import verify

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KEY = "sk_test_workerskey"
STREAMS = ["customers", "products", "prices"]
PIPELINES = 10


def test_a_killed_worker_hands_its_pipelines_to_the_other(
    postgres_server: PostgresServer, temporal_address: str, tmp_path
):
    store_url = postgres_server.create_database("workers_store")
    destination_url = postgres_server.create_database("workers_destination")
    objects = {"customers": 1200, "products": 100, "prices": 100}
    with (
        fake_stripe(objects, api_keys=[KEY]) as fake,
        service_processes(
            tmp_path,
            store_url=store_url,
            temporal_address=temporal_address,
            task_queue="workers-tests",
            workers=2,
        ) as (api, workers),
    ):
        client = ServiceClient(api.line_with("listening").split()[1])
        source = {"api_key": KEY, "base_url": fake.url, "max_requests_per_second": 3}

        def spec(number: int) -> dict[str, Any]:
            destination = {"url": destination_url, "schema": f"p{number}"}
            return {
                "name": f"p{number}",
                "source": {"type": "stripe", "config": source},
                "destination": {"type": "postgres", "config": destination},
                "streams": STREAMS,
            }

        ids = []
        for number in range(PIPELINES):
            response = client.post("/pipelines", json=spec(number))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        victim, survivor = workers
        victim_name = f"{socket.gethostname()}:{victim.process.pid}"

        def running_on_victim() -> list[dict[str, Any]]:
            found = []
            for pipeline_id in ids:
                for run in client.get(f"/pipelines/{pipeline_id}/runs").json()["runs"]:
                    if run["worker"] == victim_name and run["mode"] == "backfill":
                        found.append({**run, "pipeline_id": pipeline_id})
            return [run for run in found if not run.get("ended_at")]

        deadline = time.monotonic() + 30
        while not running_on_victim():
            assert time.monotonic() < deadline, "no backfill ever ran on the first worker"
            time.sleep(0.1)
        time.sleep(1.0)  # some pages in, far from done
        interrupted = running_on_victim()
        assert interrupted, "the first worker finished its backfills before the kill"
        victim.kill()

        for pipeline_id in ids:
            client.wait_status(pipeline_id, "live", timeout=90)
        for run in interrupted:  # taken over by the survivor, resumed, completed
            runs = client.get(f"/pipelines/{run['pipeline_id']}/runs").json()["runs"]
            finished = [r for r in runs if r["mode"] == "backfill" and r.get("reason")]
            assert any(r["reason"] == "complete" for r in finished)
            # the killed call ended lost once the survivor took over; it completed nothing
            killed = next(r for r in runs if r["id"] == run["id"])
            assert (killed["reason"], killed["ended_at"] is not None) == ("lost", True)
            assert all(r["worker"] != victim_name for r in finished if r["reason"] != "lost")

        unlimited = {**source, "max_requests_per_second": 0}
        for number in range(PIPELINES):
            destination = spec(number)["destination"]["config"]
            reports = asyncio.run(verify(unlimited, destination, STREAMS, lt=int(time.time())))
            assert all(report.equal for report in reports), [r.lines() for r in reports]
        assert "polling task queue" in survivor.logs()
        client.close()
