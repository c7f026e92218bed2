"""Request limits on a hand-driven clock: token buckets, concurrency, 429 bursts, stats windows."""

from __future__ import annotations

import pytest

from stripe_sync.fake_stripe.config import Burst429, FakeStripeConfig
from stripe_sync.fake_stripe.errors import StripeError
from stripe_sync.fake_stripe.limits import Admission
from stripe_sync.fake_stripe.stats import SlidingWindowMax


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admitted(admission: Admission, endpoint: str = "GET /v1/customers") -> str:
    try:
        admission.admit(endpoint)
    except StripeError as error:
        assert error.status == 429
        assert error.body()["error"]["code"] == "rate_limit"
        return error.headers["Stripe-Rate-Limited-Reason"]
    return "ok"


def test_account_bucket_allows_a_burst_of_rate_then_rate_per_second():
    clock = Clock()
    admission = Admission(FakeStripeConfig(rate_limit=10), clock)
    results = [admitted(admission) for _ in range(15)]
    assert results.count("ok") == 10 and results[-1] == "global-rate"
    accepted = 10
    for _ in range(100):  # 10 s, one request every 0.1 s and a second one refused
        clock.now += 0.1
        accepted += [admitted(admission), admitted(admission)].count("ok")
    assert accepted <= 10 * 10 + 10


def test_endpoint_buckets_are_separate_and_refusals_take_no_account_token():
    clock = Clock()
    admission = Admission(FakeStripeConfig(rate_limit=5, endpoint_rate_limit=2), clock)
    assert [admitted(admission, "GET /v1/customers") for _ in range(3)] == [
        "ok",
        "ok",
        "endpoint-rate",
    ]
    assert [admitted(admission, "GET /v1/charges") for _ in range(4)] == [
        "ok",
        "ok",
        "endpoint-rate",
        "endpoint-rate",
    ]
    assert admitted(admission, "GET /v1/invoices") == "ok"
    assert admitted(admission, "GET /v1/prices") == "global-rate"


def test_concurrency_limit_counts_requests_in_flight():
    admission = Admission(FakeStripeConfig(concurrency_limit=2), Clock())
    with admission.running(), admission.running():
        assert admitted(admission) == "global-concurrency"
    assert admitted(admission) == "ok"
    assert admission.peak_in_flight == 2 and admission.in_flight == 0


@pytest.mark.parametrize(
    ("elapsed", "expected"), [(0, "ok"), (7.9, "ok"), (8.0, "global-rate"), (9.9, "global-rate")]
)
def test_periodic_429_bursts(elapsed, expected):
    clock = Clock()
    admission = Admission(FakeStripeConfig(burst_429=Burst429(10, 2)), clock)
    clock.now += elapsed + 20  # the same phase two periods later
    assert admitted(admission) == expected


def test_sliding_window_counts_the_busiest_second():
    window = SlidingWindowMax()
    for moment in (0.0, 0.5, 0.9, 1.2, 1.3, 1.4, 3.0):
        window.add(moment)
    assert window.peak == 5  # 0.5 .. 1.4


def test_sliding_window_accepts_exactly_rate_in_any_second_and_no_burst_after_a_pause():
    clock = Clock()
    admission = Admission(FakeStripeConfig(rate_limit=10, sliding_window=True), clock)
    assert admission.after_latency
    assert admitted(admission) == "ok"  # on arrival only burst and concurrency are checked

    def after_latency(endpoint: str = "GET /v1/customers") -> str:
        try:
            admission.admit_rate(endpoint)
        except StripeError as error:
            return error.headers["Stripe-Rate-Limited-Reason"]
        return "ok"

    assert [after_latency() for _ in range(12)].count("ok") == 10
    clock.now += 0.5
    assert after_latency() == "global-rate"  # the ten accepted a half second ago still count
    clock.now += 0.5
    assert [after_latency() for _ in range(12)].count("ok") == 10
    window = SlidingWindowMax()
    for step in range(1, 301):  # 30 s of two requests every 0.1 s: never 11 in one second
        clock.now = 1001.0 + step / 10
        for _ in range(2):
            if after_latency() == "ok":
                window.add(clock.now)
    assert window.peak == 10


def test_search_and_file_listing_allow_twenty_per_second_whenever_limits_are_on():
    for config in (FakeStripeConfig(rate_limit=1000), FakeStripeConfig(endpoint_rate_limit=100)):
        admission = Admission(config, Clock())
        for endpoint in ("GET /v1/files", "GET /v1/customers/search"):
            results = [admitted(admission, endpoint) for _ in range(25)]
            assert results.count("ok") == 20 and results[-1] == "endpoint-rate"
        assert [admitted(admission, "GET /v1/charges") for _ in range(25)].count("ok") == 25
    unlimited = Admission(FakeStripeConfig(), Clock())
    assert [admitted(unlimited, "GET /v1/files") for _ in range(25)].count("ok") == 25
