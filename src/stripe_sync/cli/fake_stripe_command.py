"""`stripe-sync fake-stripe`: serve the fake Stripe API until Ctrl-C (see docs/fake-stripe.md)."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Annotated

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.running import run_command
from stripe_sync.fake_stripe import FakeStripeConfig, serve
from stripe_sync.fake_stripe.app import FakeStripeApi
from stripe_sync.fake_stripe.config import (
    ACCOUNT_API_VERSION,
    parse_burst,
    parse_connected_accounts,
    parse_now,
    parse_objects,
    parse_restricted_key,
    parse_stream_list,
    profile_objects,
)
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog import load_catalog


def fake_stripe_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, help="port (0: any free port)")] = 12111,
    seed: Annotated[int, typer.Option("--seed", help="seed of the generated data")] = 0,
    now: Annotated[
        str | None,
        typer.Option("--now", help="end of the seeded history, ISO-8601 (default: the clock)"),
    ] = None,
    objects: Annotated[
        str,
        typer.Option(
            "--objects",
            help="objects per stream: customers=10000,charges=50000 (*=N for the rest; default 10)",
        ),
    ] = "",
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="preset object counts: realistic (a subscription business; --objects overrides)",
        ),
    ] = None,
    years: Annotated[float, typer.Option("--years", min=0.01, help="years of history")] = 5.0,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="added to every answer, milliseconds")
    ] = 0.0,
    jitter_ms: Annotated[
        float, typer.Option("--jitter-ms", min=0, help="random extra latency up to this, ms")
    ] = 0.0,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=0, help="account requests/s (0: no limit)")
    ] = 0.0,
    endpoint_rate_limit: Annotated[
        float, typer.Option("--endpoint-rate-limit", min=0, help="requests/s per endpoint")
    ] = 0.0,
    concurrency_limit: Annotated[
        int, typer.Option("--concurrency-limit", min=0, help="requests in flight (0: no limit)")
    ] = 0,
    sliding_window: Annotated[
        bool,
        typer.Option(
            "--sliding-window",
            help="check the rate limits after the latency: at most RPS accepted in any 1 s window",
        ),
    ] = False,
    fault_rate: Annotated[
        float, typer.Option("--fault-rate", min=0, max=1, help="probability of a 500")
    ] = 0.0,
    reset_rate: Annotated[
        float, typer.Option("--reset-rate", min=0, max=1, help="probability of a reset")
    ] = 0.0,
    burst_429: Annotated[
        str | None,
        typer.Option("--burst-429", help="EVERY_S:LEN_S, e.g. 30:2 (429s for 2 s every 30 s)"),
    ] = None,
    garbage_rate: Annotated[
        float,
        typer.Option("--garbage-rate", min=0, max=1, help="probability of a garbage answer"),
    ] = 0.0,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="accepted key (repeatable; default: any well-formed key)"),
    ] = None,
    restricted_key: Annotated[
        list[str] | None,
        typer.Option("--restricted-key", help="rk_...:deny=stream,... (repeatable)"),
    ] = None,
    not_available: Annotated[
        list[str] | None,
        typer.Option("--not-available", help="streams the account cannot use: stream,..."),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="post every event a write records to this URL"),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option("--webhook-secret", help="sign the posted events with this secret"),
    ] = None,
    connected_accounts: Annotated[
        str | None,
        typer.Option(
            "--connected-accounts",
            help="N[:deny=K]: N connected accounts of skewed sizes, the last K refusing access",
        ),
    ] = None,
    subscription_histories: Annotated[
        bool,
        typer.Option(
            "--subscription-histories",
            help="subscriptions with coherent prices, trials, coupons and cancellations",
        ),
    ] = False,
    account_api_version: Annotated[
        str,
        typer.Option("--account-api-version", help="the API version events are rendered at"),
    ] = ACCOUNT_API_VERSION,
    event_delay_ms: Annotated[
        float,
        typer.Option(
            "--event-delay-ms", min=0, help="list each new event up to this late (random)"
        ),
    ] = 0.0,
    deleted_retrieve_404: Annotated[
        bool,
        typer.Option(
            "--deleted-retrieve-404",
            help="deleted products, plans and coupons answer 404 when retrieved (as Stripe's)",
        ),
    ] = False,
) -> None:
    """Serve a Stripe-compatible API with seeded data; prints `listening http://HOST:PORT`."""
    try:
        if webhook_url and not webhook_secret:
            raise ConfigError("--webhook-url needs --webhook-secret")
        connected, denied = (
            parse_connected_accounts(connected_accounts) if connected_accounts else (0, 0)
        )
        config = FakeStripeConfig(
            seed=seed,
            now=parse_now(now) if now else None,
            years=years,
            objects={**(profile_objects(profile) if profile else {}), **parse_objects(objects)},
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            rate_limit=rate_limit,
            endpoint_rate_limit=endpoint_rate_limit,
            concurrency_limit=concurrency_limit,
            sliding_window=sliding_window,
            fault_rate=fault_rate,
            reset_rate=reset_rate,
            garbage_rate=garbage_rate,
            burst_429=parse_burst(burst_429) if burst_429 else None,
            api_keys=tuple(api_key or ()),
            restricted_keys=dict(parse_restricted_key(item) for item in restricted_key or ()),
            not_available=frozenset().union(*map(parse_stream_list, not_available or ())),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            connected_accounts=connected,
            denied_accounts=denied,
            subscription_histories=subscription_histories,
            account_api_version=account_api_version,
            event_delay_ms=event_delay_ms,
            deleted_retrieve_404=deleted_retrieve_404,
        )
    except ConfigError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        raise typer.Exit(exit_codes.USAGE_ERROR) from None

    def announce(url: str) -> None:
        print(f"listening {url}", flush=True)

    async def main(abort: asyncio.Event) -> int:
        api = FakeStripeApi(load_catalog(), config)
        # The catalog, id pools and prepared variants live as long as the process: keeping them out
        # of the garbage collector's full passes halves the cost of a page of invoices.
        gc.freeze()
        await serve(api, host, port, abort, announce)
        return exit_codes.DONE

    raise typer.Exit(run_command(main))
