"""The fake Stripe server under load and faults, over real HTTP: limits, 429s, 500s, resets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter

import httpx
import orjson
import pytest
import stripe

from stripe_sync.fake_stripe import Burst429, FakeStripe

NOW = 1767225600
AUTH = {"Authorization": "Bearer sk_test_load"}


def fake_stripe(**settings) -> FakeStripe:
    return FakeStripe(seed=1, now=NOW, objects={"*": 0, "customers": 50, "charges": 50}, **settings)


async def hammer(url: str, seconds: float, paths: list[str], workers: int) -> tuple[Counter, float]:
    """Requests from ``workers`` connections, round-robin over ``paths``: (path, status) counts."""
    outcomes: Counter = Counter()
    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits) as http:
        started = time.monotonic()

        async def worker(number: int) -> None:
            while time.monotonic() - started < seconds:
                path = paths[number % len(paths)]
                response = await http.get(path)
                outcomes[(path, response.status_code)] += 1
                if response.status_code == 429:
                    reason = response.headers["Stripe-Rate-Limited-Reason"]
                    outcomes[("reason", reason)] += 1

        await asyncio.gather(*(worker(number) for number in range(workers)))
        return outcomes, time.monotonic() - started


async def test_accepted_requests_stay_within_the_account_bucket():
    rate = 20
    with fake_stripe(rate_limit=rate) as fake:
        outcomes, duration = await hammer(fake.url, 3.0, ["/v1/customers?limit=1"], workers=8)
        stats = fake.stats()
    accepted = outcomes[("/v1/customers?limit=1", 200)]
    assert 0.8 * rate * duration <= accepted <= rate * duration + rate
    assert outcomes[("/v1/customers?limit=1", 429)] == outcomes[("reason", "global-rate")] > 0
    assert stats["accepted_total"] == accepted
    assert stats["max_accepted_per_second"] <= 2 * rate
    assert stats["rate_limited_by_reason"] == {"global-rate": outcomes[("reason", "global-rate")]}


async def test_each_endpoint_has_its_own_bucket():
    rate = 5
    paths = ["/v1/customers", "/v1/charges"]
    with fake_stripe(endpoint_rate_limit=rate) as fake:
        outcomes, duration = await hammer(fake.url, 1.5, paths, workers=4)
        stats = fake.stats()
    for path in paths:
        assert 0 < outcomes[(path, 200)] <= rate * duration + rate
    assert outcomes[("reason", "endpoint-rate")] > 0
    by_endpoint = stats["max_accepted_per_second_by_endpoint"]
    assert set(by_endpoint) == {"GET /v1/customers", "GET /v1/charges"}
    assert max(by_endpoint.values()) <= 2 * rate


async def test_concurrency_limit_and_latency():
    with fake_stripe(concurrency_limit=2, latency_ms=300) as fake:
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as http:
            started = time.monotonic()
            responses = await asyncio.gather(*(http.get("/v1/customers") for _ in range(6)))
            elapsed = time.monotonic() - started
        stats = fake.stats()
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 2, 429: 4}
    assert {r.headers["Stripe-Rate-Limited-Reason"] for r in responses if r.status_code == 429} == {
        "global-concurrency"
    }
    assert elapsed >= 0.3
    assert stats["peak_concurrency"] == 2


def test_periodic_429_bursts():
    with (
        fake_stripe(burst_429=Burst429(0.6, 0.3)) as fake,
        httpx.Client(base_url=fake.url, headers=AUTH) as http,
    ):
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        while time.monotonic() - started < 1.3:
            statuses[http.get("/v1/customers").status_code] += 1
            time.sleep(0.02)
    assert statuses[200] > 5 and statuses[429] > 5


def test_server_errors_carry_should_retry():
    with fake_stripe(fault_rate=1.0) as fake:
        response = httpx.get(f"{fake.url}/v1/customers", headers=AUTH)
        assert response.status_code == 500
        assert response.headers["Stripe-Should-Retry"] == "true"
        assert response.json()["error"]["type"] == "api_error"
        client = stripe.StripeClient(
            "sk_test_load", base_addresses={"api": fake.url}, max_network_retries=0
        )
        with pytest.raises(stripe.APIError):
            client.v1.customers.list()


def test_connection_resets():
    with fake_stripe(reset_rate=1.0) as fake:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fake.url}/v1/customers", headers=AUTH)
        assert fake.stats()["requests"]["GET /v1/customers"] == {"reset": 1}


def test_garbage_answers_are_html_pages_or_cut_json():
    with (
        fake_stripe(garbage_rate=1.0) as fake,
        httpx.Client(base_url=fake.url, headers=AUTH) as http,
    ):
        responses = [http.get("/v1/customers") for _ in range(20)]
    html = [r for r in responses if r.headers["content-type"] == "text/html"]
    cut = [r for r in responses if r.headers["content-type"] == "application/json"]
    assert html and all(r.status_code == 502 and b"<html>" in r.content for r in html)
    assert cut and all(r.status_code == 200 for r in cut)
    for response in cut:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)


def test_every_answer_has_a_request_id_and_stats_count_them():
    # 4 tokens: the 401 and the unrecognized URL take none, the missing customer takes one; the
    # charges drain the rest faster than the bucket refills (how many get through depends on
    # the machine's speed, so the stats are checked against the answers)
    with fake_stripe(rate_limit=4) as fake, httpx.Client(base_url=fake.url) as http:
        answers = [
            http.get("/v1/customers", headers=AUTH),
            http.get("/v1/customers", headers={"Authorization": "Bearer nope"}),
            http.get("/v1/nothing_here", headers=AUTH),
            http.get("/v1/customers/cus_missing", headers=AUTH),
            *(http.get("/v1/charges", headers=AUTH) for _ in range(12)),
        ]
        stats = http.get("/_fake/stats").json()
    assert [a.status_code for a in answers[:4]] == [200, 401, 404, 404]
    charges = Counter(str(a.status_code) for a in answers[4:])
    assert set(charges) == {"200", "429"} and charges["200"] >= 2
    request_ids = [a.headers["Request-Id"] for a in answers]
    assert all(request_id.startswith("req_") for request_id in request_ids)
    assert len(set(request_ids)) == len(request_ids)
    assert all("error" in a.json() for a in answers if a.status_code != 200)
    assert stats["requests"] == {
        "GET /v1/customers": {"200": 1, "401": 1},
        "GET (unrecognized)": {"404": 1},
        "GET /v1/customers/{id}": {"404": 1},
        "GET /v1/charges": dict(charges),
    }
    assert stats["rate_limited_total"] == charges["429"]


def test_keep_alive_connection_serves_pipelined_requests_in_order():
    with fake_stripe() as fake:
        host, port = fake.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            request = (
                "GET /v1/customers?limit=1 HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer sk_test_x\r\n\r\n"
            )
            last = request.replace("limit=1", "limit=2").replace(
                "\r\n\r\n", "\r\nConnection: close\r\n\r\n"
            )
            sock.sendall((request + last).encode())
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    first, second = received.split(b"HTTP/1.1 200 OK")[1:]
    assert first.count(b'"object":"customer"') == 1 and second.count(b'"object":"customer"') == 2
    assert b"Connection: close" in second


def test_malformed_requests_get_400_and_a_closed_connection():
    with fake_stripe() as fake:
        host, port = fake.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"NONSENSE\r\nno colon here\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in received


async def test_sliding_window_mode_counts_accepted_requests_after_the_latency():
    rate = 10
    with fake_stripe(rate_limit=rate, sliding_window=True, latency_ms=100) as fake:
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as http:
            responses = await asyncio.gather(*(http.get("/v1/customers") for _ in range(15)))
        stats = fake.stats()
    refused = [response for response in responses if response.status_code == 429]
    assert len(refused) == 5
    for response in refused:
        assert response.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
        assert "Retry-After" not in response.headers
        assert response.json()["error"]["code"] == "rate_limit"
    assert stats["max_accepted_per_second"] == rate
    assert stats["rate_limited_by_reason"] == {"global-rate": 5}


async def test_concurrent_writes_to_one_object_get_lock_timeout():
    with fake_stripe(latency_ms=200) as fake:
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as http:
            customer = (await http.get("/v1/customers?limit=1")).json()["data"][0]["id"]
            responses = await asyncio.gather(
                *(http.post(f"/v1/customers/{customer}", data={"name": f"n{i}"}) for i in range(3))
            )
            other = await http.post(f"/v1/customers/{customer}", data={"name": "later"})
        stats = fake.stats()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 429, 429] and other.status_code == 200
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"]["code"] == "lock_timeout"
    assert refused.headers["Stripe-Rate-Limited-Reason"] == "resource-specific"
    assert stats["rate_limited_by_reason"] == {"resource-specific": 2}
