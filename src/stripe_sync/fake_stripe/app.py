"""The fake Stripe API: one request in, Stripe's answer out.

Order of checks, as Stripe applies them: the API key (401), the ``Stripe-Account`` (403), the URL
(404), the request limits (429, not counted as accepted; with ``sliding_window`` the rates are
checked after the latency); then, for accepted requests, latency, a write to an object another
write is changing (429 ``lock_timeout``), at most one injected fault, the restricted key's permissions (403), streams the account cannot use
(400), and the endpoint itself (400/404 for bad parameters and ids). Every answer carries
``Request-Id``; errors carry Stripe's error body. ``GET /_fake/stats`` reports what was observed.
Writes (``POST``/``DELETE``) go to :mod:`.mutations`, which records events; ``/v1/events`` is
served by :mod:`.event_log`, and each event is posted to the webhook URL when one is configured.
Connected accounts (``Stripe-Account``) each have their own data, share the platform's limits, and
answer 403 ``account_invalid`` once revoked (:meth:`FakeStripeApi.revoke`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import orjson

from stripe_sync.fake_stripe import errors
from stripe_sync.fake_stripe.auth import Authenticator
from stripe_sync.fake_stripe.config import FakeStripeConfig
from stripe_sync.fake_stripe.dataset import AccountData
from stripe_sync.fake_stripe.errors import StripeError
from stripe_sync.fake_stripe.event_log import EventLog
from stripe_sync.fake_stripe.faults import Faults
from stripe_sync.fake_stripe.forms import decode_form
from stripe_sync.fake_stripe.http_server import Request, Response
from stripe_sync.fake_stripe.ids import IdCodec, derive_key
from stripe_sync.fake_stripe.limits import Admission
from stripe_sync.fake_stripe.listing import list_page, parse_page_request
from stripe_sync.fake_stripe.mutations import MUTABLE_STREAMS, Mutations
from stripe_sync.fake_stripe.routes import Route, Router
from stripe_sync.fake_stripe.stats import ServerStats
from stripe_sync.fake_stripe.webhook_sender import WebhookSender
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog

STATS_PATH = "/_fake/stats"
GONE = frozenset({"products", "plans", "coupons"})
"""Streams whose deleted objects Stripe no longer retrieves (404), unlike deleted customers."""
RESET = Response(0, reset=True)


class FakeStripeApi:
    """Answers requests for the platform account and its connected accounts."""

    def __init__(self, catalog: StripeCatalog, config: FakeStripeConfig) -> None:
        self.config = config
        platform_id = IdCodec("acct", derive_key(config.seed, "platform")).encode(0)
        self.platform = AccountData(catalog, config.platform_config(), platform_id)
        self.accounts = {platform_id: self.platform}
        listed = self.platform.streams["accounts"]
        self.connected = [listed.object_id(index) for index in range(config.connected_accounts)]
        """Connected account ids, newest first (the order of ``GET /v1/accounts``)."""
        for index, account_id in enumerate(self.connected):
            self.accounts[account_id] = AccountData(
                catalog, config.connected_config(index), account_id
            )
        self.revoked: set[str] = set(self.connected[len(self.connected) - config.denied_accounts :])
        self.webhooks = (
            WebhookSender(config.webhook_url, config.webhook_secret or "")
            if config.webhook_url
            else None
        )
        self.event_logs = {
            account_id: EventLog(
                account.streams["events"],
                config.account_api_version,
                notify=self.webhooks.send if self.webhooks else None,
                account=account_id if account is not self.platform else None,
                history_now=config.now,
                delay_ms=config.event_delay_ms,
                seed=derive_key(config.seed, f"event-delays/{account_id}"),
            )
            for account_id, account in self.accounts.items()
        }
        self.mutations = {
            account_id: Mutations(account, self.event_logs[account_id])
            for account_id, account in self.accounts.items()
        }
        self.stats = ServerStats()
        self._api_version = catalog.api_version
        self._router = Router(catalog)
        self._auth = Authenticator(config.api_keys, config.restricted_keys)
        self._admission = Admission(config)
        self._faults = Faults(config)
        self._request_ids = IdCodec("req", derive_key(config.seed, "requests"))
        self._request_numbers = itertools.count()
        self._writing: set[tuple[str, str]] = set()
        """(account, object id) of the writes in progress, for ``lock_timeout``."""

    async def handle(self, request: Request) -> Response:
        if request.path == STATS_PATH:
            return Response(200, orjson.dumps(self.stats_snapshot()))
        route = self._router.match(request.method, request.path)
        endpoint = route.endpoint if route else f"{request.method} (unrecognized)"
        response = await self._answer(request, route, endpoint)
        self.stats.answered(endpoint, "reset" if response.reset else str(response.status))
        return response

    def revoke(self, account_id: str) -> None:
        """The connected account revokes the platform's access: its requests get 403 from now on."""
        self.revoked.add(account_id)

    def stats_snapshot(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot(self._admission.peak_in_flight)
        if self.webhooks is not None:
            snapshot["webhooks"] = dict(self.webhooks.outcomes)
        return snapshot

    async def close(self) -> None:
        """Stop delivering webhooks (deliveries still being retried are dropped)."""
        if self.webhooks is not None:
            await self.webhooks.close()

    async def _answer(self, request: Request, route: Route | None, endpoint: str) -> Response:
        headers = (
            ("Request-Id", self._request_ids.encode(next(self._request_numbers))),
            ("Stripe-Version", request.headers.get("stripe-version", self._api_version)),
        )
        try:
            key = self._auth.authenticate(request.headers.get("authorization"))
            account = self._account(request, key)
            if route is None:
                raise errors.unrecognized_url(request.method, request.path)
            self._admission.admit(endpoint)
        except StripeError as error:
            if error.status == 429:
                self.stats.refused(error.headers["Stripe-Rate-Limited-Reason"])
            await self._wait()
            return _error_response(error, headers)
        with self._admission.running(), self._object_lock(route, account) as locked:
            if not self._admission.after_latency:
                self.stats.accepted(endpoint, time.monotonic())
            await self._wait()
            try:
                if self._admission.after_latency:
                    self._admission.admit_rate(endpoint)
                    self.stats.accepted(endpoint, time.monotonic())
                if not locked:
                    raise errors.lock_timeout(route.object_id or "")
            except StripeError as error:
                self.stats.refused(error.headers["Stripe-Rate-Limited-Reason"])
                return _error_response(error, headers)
            fault = self._faults.draw()
            if fault == "reset":
                return RESET
            try:
                if fault == "error":
                    raise errors.api_error()
                body = self._execute(route, request, key, account)
            except StripeError as error:
                return _error_response(error, headers)
            answer = Response(200, orjson.dumps(body), headers=headers)
            return self._faults.garbage(answer) if fault == "garbage" else answer

    @contextmanager
    def _object_lock(self, route: Route, account: AccountData) -> Iterator[bool]:
        """Hold the object a write changes while the write runs; False if another write holds it."""
        if route.kind not in ("update", "delete", "action") or route.object_id is None:
            yield True
            return
        key = (account.account_id, route.object_id)
        if key in self._writing:
            yield False
            return
        self._writing.add(key)
        try:
            yield True
        finally:
            self._writing.discard(key)

    async def _wait(self) -> None:
        delay = self._faults.delay()
        if delay:
            await asyncio.sleep(delay)

    def _account(self, request: Request, key: str) -> AccountData:
        wanted = request.headers.get("stripe-account")
        if wanted is None:
            return self.platform
        account = self.accounts.get(wanted)
        if account is None or wanted in self.revoked:
            raise errors.no_account_access(key, wanted)
        return account

    def _execute(
        self, route: Route, request: Request, key: str, account: AccountData
    ) -> dict[str, Any]:
        stream = route.stream
        if stream is None:
            return account.account_object
        self._auth.authorize(key, stream.name, stream.object, account.account_id)
        if stream.name in self.config.not_available:
            raise errors.not_set_up(_product_name(stream))
        if route.kind in ("create", "update", "delete", "action"):
            return self._write(route, request, account)
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        if route.kind == "list":
            if stream.name == "events":
                return self.event_logs[account.account_id].list(request.query)
            return _list(stream, params, account)
        assert route.object_id is not None
        if route.kind == "retrieve":
            if stream.name == "accounts" and route.object_id == account.account_id:
                return account.account_object  # an account may look itself up by id
            return _retrieve(stream, route.object_id, account, self.config.deleted_retrieve_404)
        assert route.field is not None
        collection = account.streams[stream.name]
        parent_index = collection.find(route.object_id)
        if parent_index is None:
            raise errors.resource_missing(stream.object, route.object_id)
        view = collection.embedded[route.field].children.view(parent_index)
        page = parse_page_request(params, other_params=(), created_filter=False)
        return list_page(view, page, request.path)

    def _write(self, route: Route, request: Request, account: AccountData) -> dict[str, Any]:
        stream = route.stream
        assert stream is not None
        mutations = self.mutations[account.account_id]
        try:
            body = request.body.decode()
        except UnicodeDecodeError:
            raise errors.parameter_invalid("body", "The request body is not UTF-8.") from None
        params = {**decode_form(request.query), **decode_form(body)}
        if route.kind == "create":
            return mutations.create(stream.name, params)
        assert route.object_id is not None
        if route.kind == "update":
            return mutations.update(stream.name, route.object_id, params)
        if route.kind == "delete":
            kind = MUTABLE_STREAMS[stream.name].delete
            assert kind is not None
            return mutations.delete(stream.name, route.object_id, kind)
        assert route.field is not None
        return mutations.action(stream.name, route.object_id, route.field)


def _list(stream: StreamDef, params: dict[str, str], account: AccountData) -> dict[str, Any]:
    fan_out = stream.fan_out
    page = parse_page_request(
        params,
        other_params={*stream.default_params, *([fan_out.param] if fan_out else [])},
        created_filter=stream.time_filter is not None,
        paging=stream.supports_limit,
    )
    if fan_out is None:
        view = account.streams[stream.name].list_view(params)
    else:
        parent_id = params.get(fan_out.param)
        if not parent_id:
            raise errors.parameter_missing(fan_out.param)
        children = account.children[stream.name]
        parent_index = children.parent.find(parent_id)
        if parent_index is None:
            raise errors.resource_missing(children.parent.stream.object, parent_id, fan_out.param)
        view = children.view(parent_index)
    return list_page(view, page, stream.list_path)


def _retrieve(
    stream: StreamDef, object_id: str, account: AccountData, deleted_404: bool
) -> dict[str, Any]:
    if stream.fan_out is not None:
        children = account.children[stream.name]
        found = children.find(object_id)
        if found is not None:
            return children.render(*found)
    else:
        collection = account.streams[stream.name]
        index = collection.find(object_id)
        if index is not None and not collection.is_deleted(index):
            return collection.render(index)
        if index is not None and stream.deletable and not (deleted_404 and stream.name in GONE):
            return {"id": object_id, "object": stream.object, "deleted": True}
    raise errors.resource_missing(stream.object, object_id)


def _error_response(error: StripeError, headers: tuple[tuple[str, str], ...]) -> Response:
    return Response(
        error.status, orjson.dumps(error.body()), headers=(*headers, *error.headers.items())
    )


def _product_name(stream: StreamDef) -> str:
    """``/v1/issuing/cards`` → ``Issuing``: the product a stream belongs to."""
    return stream.list_path.split("/")[2].replace("_", " ").title()
