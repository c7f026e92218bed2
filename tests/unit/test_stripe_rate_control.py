"""Rate control on a hand-driven clock: which 429 reason slows what, recovery, even pacing."""

from __future__ import annotations

import pytest

from stripe_sync.fake_stripe.stats import SlidingWindowMax
from stripe_sync.sources.stripe.budget import RequestBudget
from stripe_sync.sources.stripe.rate_control import MARGIN, ConcurrencyCap, Pace

CUSTOMERS = "/v1/customers"
CHARGES = "/v1/charges"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def accept(budget: RequestBudget, clock: Clock, endpoint: str, count: int, seconds: float) -> None:
    """``count`` answers of ``endpoint`` accepted evenly over the next ``seconds``."""
    for _ in range(count):
        clock.now += seconds / count
        budget.concurrency.in_flight += 1
        budget.answered(endpoint, accepted=True)


def rates(budget: RequestBudget) -> tuple[float, float, float]:
    budget.account.wait_time(budget.clock())
    return (
        budget.current_rps,
        budget.endpoint_rps(CUSTOMERS),
        budget.endpoint_rps(CHARGES),
    )


async def test_an_endpoint_rate_429_slows_that_endpoint_only():
    clock = Clock()
    budget = RequestBudget(rate=100, endpoint_rate=25, clock=clock)
    accept(budget, clock, CHARGES, 5, 0.1)
    accept(budget, clock, CUSTOMERS, 20, 0.9)
    before = rates(budget)
    assert before == (97.0, 25 * (1 - MARGIN), 25 * (1 - MARGIN))
    budget.rate_limited(CUSTOMERS, "endpoint-rate")
    account, customers, charges = rates(budget)
    assert (account, charges) == (before[0], before[2])
    assert budget.endpoints[CUSTOMERS].ceiling == 20  # accepted in the last second
    assert customers == pytest.approx(20 * (1 - MARGIN) * 0.9)  # a tenth under, not halved


async def test_a_global_rate_429_slows_the_account_by_a_tenth_under_the_learnt_limit():
    clock = Clock()
    budget = RequestBudget(rate=100, endpoint_rate=25, clock=clock)
    accept(budget, clock, CUSTOMERS, 60, 1.0)
    budget.rate_limited(CUSTOMERS, "global-rate")
    assert budget.learnt_rps == 60
    account, customers, charges = rates(budget)
    assert account == pytest.approx(60 * (1 - MARGIN) * 0.9, abs=0.01)
    assert customers == charges == 25 * (1 - MARGIN)


async def test_a_concurrency_429_lowers_the_cap_not_the_rate():
    clock = Clock()
    budget = RequestBudget(rate=100, endpoint_rate=25, clock=clock)
    accept(budget, clock, CUSTOMERS, 50, 1.0)
    budget.concurrency.in_flight = 11
    before = rates(budget)
    budget.rate_limited(CUSTOMERS, "global-concurrency")
    assert rates(budget) == before
    assert budget.learnt_rps is None
    assert budget.concurrency.cap == 9  # a tenth under the ten others in flight
    budget.concurrency.in_flight = 9
    assert budget.concurrency.full(clock.now)
    budget.concurrency.in_flight = 8
    assert not budget.concurrency.full(clock.now)


async def test_a_resource_lock_429_changes_nothing():
    clock = Clock()
    budget = RequestBudget(rate=100, endpoint_rate=25, clock=clock)
    accept(budget, clock, CUSTOMERS, 50, 1.0)
    before = rates(budget)
    budget.rate_limited(CUSTOMERS, "resource-specific")
    assert rates(budget) == before and budget.concurrency.cap is None


async def test_recovery_after_a_burst_of_429s_is_one_small_step_and_quick():
    clock = Clock()
    budget = RequestBudget(rate=40, endpoint_rate=0, clock=clock)
    accept(budget, clock, CUSTOMERS, 38, 1.0)
    clock.now += 1.0  # an outage: nothing accepted for a second, then 20 429s in 0.3 s
    for _ in range(20):
        clock.now += 0.015
        budget.rate_limited(CUSTOMERS, "global-rate")
    target = 40 * (1 - MARGIN)
    assert rates(budget)[0] == pytest.approx(target * 0.9, abs=0.01)  # one step for the burst
    assert budget.learnt_rps is None  # refusing everything says nothing about the limit
    clock.now += 0.4
    assert rates(budget)[0] == pytest.approx(target * 0.9, abs=0.01)  # waits a quiet half second
    for _ in range(10):
        clock.now += 0.1
        rates(budget)
    assert rates(budget)[0] == pytest.approx(target)  # back within a second


async def test_an_unlimited_budget_learns_the_server_limit_and_probes_above_it_later():
    clock = Clock()
    budget = RequestBudget(rate=0, endpoint_rate=0, clock=clock)
    assert rates(budget)[0] == 0  # unlimited
    accept(budget, clock, CUSTOMERS, 25, 1.0)
    budget.rate_limited(CUSTOMERS, "global-rate")
    assert budget.learnt_rps == 25
    for _ in range(20):
        clock.now += 0.1
        rates(budget)
    assert rates(budget)[0] == pytest.approx(25 * (1 - MARGIN))
    clock.now += 10
    rates(budget)
    assert budget.learnt_rps == pytest.approx(25 * 1.05)  # kept, then probed upwards slowly


def test_a_paced_sender_never_fills_more_than_the_rate_in_any_second_of_the_servers_window():
    clock = Clock()
    pace = Pace(limit=25, now=clock.now)
    window = SlidingWindowMax()
    granted = 0
    answers: list[float] = []
    for step in range(1, 5001):  # a greedy sender polling every 2 ms for 10 s, 100 ms answers
        clock.now += 0.002
        if step % 700 == 0:
            clock.now += 0.3  # a late wake-up must not turn into a burst
        while answers and answers[0] <= clock.now:
            answered = answers.pop(0)
            pace.record_answer(answered, accepted=True, round_trip=0.1)
            window.add(answered)  # the server counts a request about when it answers
        if pace.wait_time(clock.now) == 0:
            pace.take(clock.now)
            answers.append(clock.now + 0.1)
            granted += 1
    assert window.peak <= 25
    assert granted >= 25 * (1 - MARGIN) * 10


def test_a_pace_waits_for_room_in_the_servers_window_when_answers_came_bunched():
    pace = Pace(limit=10, now=0.0)
    for moment in (0.50, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.57):
        pace.take(moment - 0.2)
        pace.record_answer(moment, accepted=True, round_trip=0.2)
    pace.take(0.6)
    pace.take(0.65)  # eight answered within the last 0.8 s and two in flight: the window is full
    assert pace.wait_time(0.7) == pytest.approx(0.50 - (0.7 - 0.8))
    assert pace.wait_time(1.31) == 0.0  # the first answer left the window


def test_the_concurrency_cap_grows_back_one_per_quiet_second():
    cap = ConcurrencyCap(in_flight=6)
    cap.record_limited(100.0)
    assert cap.cap == 4
    cap.in_flight = 4
    assert cap.full(100.5)
    assert not cap.full(101.0) and cap.cap == 5
