"""The Stripe HTTP client: authenticated GETs through the request budget, with retries.

One pooled ``httpx.AsyncClient`` per source. Every request waits for the budget, carries the key,
the pinned ``Stripe-Version`` and (for a connected account) ``Stripe-Account``, and has a timeout.
429s, 5xx, 409 with ``Stripe-Should-Retry``, timeouts, dropped connections and garbage answers are
retried with capped, jittered exponential back-off (each retry goes through the budget again);
everything else raises a typed :mod:`.errors` exception. A connection that cannot be opened
(refused, unknown name) before the base URL has ever answered is :class:`.errors.Unreachable` at
once: retries are for answers that may change, not for a wrong address. Counters per stream feed ``source_stats``.
:meth:`StripeClient.for_account` gives a connected account its own client over the same
connections and budget (the account is the budget's fairness group).
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from stripe_sync.protocol.urls import redact_url
from stripe_sync.sources.stripe.budget import RequestBudget
from stripe_sync.sources.stripe.catalog import StripeCatalog
from stripe_sync.sources.stripe.config import StripeSourceConfig
from stripe_sync.sources.stripe.errors import (
    RetriesExhausted,
    StripeError,
    Unreachable,
    classify,
)
from stripe_sync.sources.stripe.request_gate import pass_gate

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
KEY_PATTERN = re.compile(r"\b([sr]k_(?:test|live)_)[A-Za-z0-9]+")
USER_AGENT = "stripe-sync-engine"


def redact(text: str) -> str:
    """Mask anything that looks like a Stripe key."""
    return KEY_PATTERN.sub(r"\1***", text)


@dataclass(frozen=True)
class StripeResponse:
    """A decoded 200 answer: the JSON body and the server's receipt time in unix milliseconds."""

    body: dict[str, Any]
    received_ms: int
    request_id: str | None
    elapsed_s: float

    @property
    def version(self) -> int:
        """The record version of a listed object: (the response's ``Date`` second * 1000) - 1."""
        return self.received_ms // 1000 * 1000 - 1


class RequestStats:
    """Per-stream counters since the last :meth:`take`."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()

    def take(self, stream: str) -> dict[str, int]:
        """The deltas for ``stream`` (for a ``source_stats`` message) and reset them."""
        delta = {
            "request_count": self.requests.pop(stream, 0),
            "retry_count": self.retries.pop(stream, 0),
            "rate_limited_count": self.rate_limited.pop(stream, 0),
        }
        return delta


class _Retry(Exception):
    """A failed attempt worth another; ``answered``: the server took the request (so it counts
    against its limits); ``limited_reason``: a 429's ``Stripe-Rate-Limited-Reason``."""

    def __init__(
        self,
        message: str,
        delay: float | None = None,
        *,
        answered: bool = True,
        rate_limited: bool = False,
        limited_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.answered = answered
        self.rate_limited = rate_limited
        self.limited_reason = limited_reason


def backoff(attempt: int) -> float:
    """Capped exponential back-off with full jitter in its upper half."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    return ceiling * random.uniform(0.5, 1.0)


@dataclass
class _Answered:
    """Whether the base URL has answered once; shared by a client and its account clients."""

    ever: bool = False


class StripeClient:
    """GET requests against Stripe's API (or a fake at ``base_url``)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        api_version: str,
        budget: RequestBudget,
        account: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 8,
        max_connections: int = 100,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Stripe-Version": api_version,
            "User-Agent": USER_AGENT,
        }
        if account:
            headers["Stripe-Account"] = account
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self.budget = budget
        self.max_retries = max_retries
        self.stats = RequestStats()
        self.log_retry: Any = None
        self.account = account or ""
        self._headers: dict[str, str] | None = None
        self._answered = _Answered()

    def for_account(self, account: str) -> StripeClient:
        """A client for connected ``account`` sharing this one's connections and budget.

        It has its own counters; closing the original closes its connections too.
        """
        clone = copy.copy(self)
        clone.stats = RequestStats()
        clone.account = account
        clone._headers = {"Stripe-Account": account}
        return clone

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        stream: str,
        endpoint: str | None = None,
    ) -> StripeResponse:
        """GET ``path``; ``endpoint`` (default ``path``) names the per-endpoint rate bucket."""
        endpoint = endpoint or path
        budget = self.budget
        for attempt in range(self.max_retries + 1):
            await budget.acquire(stream, endpoint, self.account)
            await pass_gate()  # the host's budget for the whole Stripe account, if it has one
            granted_at = time.monotonic()
            self.stats.requests[stream] += 1
            accepted = False
            try:
                response = await self._once(path, params)
                accepted = True
                return response
            except StripeError:
                accepted = True
                raise
            except _Retry as retry:
                accepted = retry.answered
                if retry.rate_limited:
                    self.stats.rate_limited[stream] += 1
                    budget.rate_limited(endpoint, retry.limited_reason, retry.delay)
                if attempt == self.max_retries:
                    raise RetriesExhausted(
                        f"{path}: gave up after {attempt + 1} attempts: {retry}"
                    ) from None
                self.stats.retries[stream] += 1
                if self.log_retry is not None:
                    self.log_retry(stream, path, str(retry))
                delay = max(backoff(attempt), retry.delay or 0.0)
            finally:
                budget.answered(endpoint, accepted, time.monotonic() - granted_at)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _once(self, path: str, params: dict[str, Any] | None) -> StripeResponse:
        try:
            response = await self.http.get(path, params=params, headers=self._headers)
        except httpx.TimeoutException:
            raise _Retry("request timed out", answered=False) from None
        except httpx.ConnectError as exc:
            if not self._answered.ever:
                raise Unreachable(
                    f"cannot connect to {redact_url(str(self.http.base_url))}: "
                    f"{exc or type(exc).__name__}"
                ) from None
            raise _Retry(f"connection failed: {type(exc).__name__}", answered=False) from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed: {type(exc).__name__}", answered=False) from None
        self._answered.ever = True
        status = response.status_code
        request_id = response.headers.get("request-id")
        if status == 200:
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise _Retry("the response was not JSON") from None
            if not isinstance(body, dict):
                raise _Retry("the response was not a JSON object")
            elapsed = response.elapsed.total_seconds()
            return StripeResponse(body, _received_ms(response), request_id, elapsed)
        message, error = _error_message(response)
        should_retry = response.headers.get("stripe-should-retry")
        if status == 429:
            retry_after = _float(response.headers.get("retry-after"))
            reason = response.headers.get("stripe-rate-limited-reason")
            raise _Retry(
                f"rate limited ({reason or error.get('code') or 'too many requests'})",
                retry_after,
                answered=False,
                rate_limited=True,
                limited_reason=reason,
            )
        if should_retry == "true" or (status >= 500 and should_retry != "false"):
            raise _Retry(f"HTTP {status}: {message}")
        raise classify(status, error, message, path=path, request_id=request_id)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _received_ms(response: httpx.Response) -> int:
    date = response.headers.get("date")
    if date:
        try:
            return int(parsedate_to_datetime(date).timestamp() * 1000)
        except (TypeError, ValueError):
            pass
    return int(time.time() * 1000)


def _error_message(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """The answer's message (redacted) and its ``error`` object (``{}`` when it has none)."""
    try:
        error = orjson.loads(response.content)["error"]
        if not isinstance(error, dict):
            raise TypeError
        return redact(str(error.get("message") or error.get("type") or "error")), error
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        text = response.text.strip().splitlines()
        return redact(text[0][:200] if text else f"HTTP {response.status_code}"), {}


__all__ = ["StripeClient", "StripeError", "StripeResponse", "make_client", "redact"]


def make_client(config: StripeSourceConfig, catalog: StripeCatalog) -> StripeClient:
    """A client with its own budget, as ``config`` asks, speaking the catalog's API version."""
    budget = RequestBudget(config.account_rps, config.endpoint_rps)
    return StripeClient(
        api_key=config.api_key.get_secret_value(),
        base_url=config.base_url,
        api_version=config.api_version or catalog.api_version,
        budget=budget,
        account=config.account,
        timeout=config.request_timeout,
        max_retries=config.max_retries,
    )
