"""A gate every Stripe request passes after the source's own budget, when one is set.

A source paces its own requests (``budget.RequestBudget``). A host running many sources against
one Stripe account (the service: every connected account of a platform, and every pipeline with
the same key) sets ``REQUEST_GATE`` to an awaitable that admits one request of that account, so
their total stays within the account's budget. It is a context variable: tasks started inside the
call inherit it, other calls are not affected.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

Gate = Callable[[], Awaitable[None]]

REQUEST_GATE: ContextVar[Gate | None] = ContextVar("stripe_request_gate", default=None)


async def pass_gate() -> None:
    """Wait until the gate of the current context (if any) admits one request."""
    gate = REQUEST_GATE.get()
    if gate is not None:
        await gate()
