"""`stripe-sync sync`: Stripe → a database, state kept in the destination's `_sync_state`.

With ``--live`` the command keeps going after the backfill: one live call after another (each
continues from the state the previous one saved), until Ctrl-C or ``--time-limit``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import typer

from stripe_sync.cli.outcome import exit_code_for_end
from stripe_sync.cli.output import OutputMode, render_sync
from stripe_sync.cli.pipeline_commands import (
    EngineTokenOption,
    EngineUrlOption,
    StateLimitOption,
    TimeLimitOption,
    WaitOption,
    sync_messages,
)
from stripe_sync.cli.running import run_command
from stripe_sync.destinations.config import destination_for_url
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.protocol.connector import Message

ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="STRIPE_API_KEY",
        metavar="KEY",
        help="Stripe secret (sk_…) or restricted (rk_…) key; required",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="STRIPE_API_BASE",
        metavar="URL",
        help="Stripe API address (default: https://api.stripe.com)",
    ),
]
To = Annotated[
    str,
    typer.Option(
        "--to",
        envvar="DATABASE_URL",
        metavar="URL",
        help="destination database: sqlite:///FILE or postgresql://…",
    ),
]
Schema = Annotated[
    str | None,
    typer.Option("--schema", metavar="NAME", help="Postgres schema (default: stripe)"),
]
PipelineName = Annotated[
    str,
    typer.Option("--pipeline-name", metavar="NAME", help="name the run's state is kept under"),
]
Streams = Annotated[
    str | None,
    typer.Option("--streams", metavar="A,B", help="streams to sync (default: all)"),
]
Account = Annotated[
    str | None,
    typer.Option(
        "--account", metavar="ACCT", help="one connected account acct_… (default: the key's own)"
    ),
]
Accounts = Annotated[
    str | None,
    typer.Option(
        "--accounts",
        metavar="WHICH",
        help="self | all (every connected account) | acct_1,acct_2 (default: self)",
    ),
]
BackfillLimit = Annotated[
    int | None,
    typer.Option(
        "--backfill-limit", min=1, metavar="N", help="newest N objects per stream (default: all)"
    ),
]
MaxRps = Annotated[
    float | None,
    typer.Option(
        "--max-rps",
        min=0,
        metavar="N",
        help="requests/s to Stripe (default 20 with a live key, 10 with a test key: a fifth of "
        "Stripe's live limit of 100/s and under half its test limit of 25/s, leaving the rest to "
        "the account's own traffic; 0: no cap, the limit is learnt from Stripe's 429s)",
    ),
]
MaxStreams = Annotated[
    int | None,
    typer.Option(
        "--max-concurrent-streams",
        min=1,
        metavar="N",
        help="streams (account-streams) read at once (default: 5)",
    ),
]
Progress = Annotated[
    bool,
    typer.Option("--progress/--no-progress", help="show the progress on stderr"),
]
Plain = Annotated[
    bool,
    typer.Option("--plain", help="plain progress lines instead of the live view (default: off)"),
]
Ndjson = Annotated[
    bool,
    typer.Option("--ndjson", help="NDJSON messages on stdout even on a terminal (default: off)"),
]
Fresh = Annotated[
    bool,
    typer.Option("--fresh", help="start over: forget the saved progress (default: off)"),
]
PollInterval = Annotated[
    float | None,
    typer.Option(
        "--poll-interval",
        min=0.1,
        metavar="SECONDS",
        help="seconds between event polls (default: 10)",
    ),
]
LIVE_CALL_PAUSE_S = 1.0
"""Pause before the next live call when one ended on its own (e.g. to re-backfill after a reset)."""


def stripe_pipeline(
    *,
    api_key: str | None,
    base_url: str | None,
    to: str,
    schema: str | None,
    pipeline_name: str,
    streams: str | None = None,
    account: str | None = None,
    accounts: str | None = None,
    backfill_limit: int | None = None,
    max_rps: float | None = None,
    max_streams: int | None = None,
    poll_interval: float | None = None,
) -> dict[str, Any]:
    """The pipeline the `sync`-style commands run (validated later by the engine)."""
    if not api_key:
        raise typer.BadParameter("an API key is needed: --api-key or STRIPE_API_KEY")
    source: dict[str, Any] = {"api_key": api_key}
    if base_url:
        source["base_url"] = base_url
    if account:
        source["account"] = account
    if accounts:
        source["accounts"] = parse_accounts(accounts)
    if max_rps is not None:
        source["max_requests_per_second"] = max_rps
    if max_streams is not None:
        source["max_concurrent_streams"] = max_streams
    if poll_interval is not None:
        source["poll_interval"] = poll_interval
    pipeline: dict[str, Any] = {
        "name": pipeline_name,
        "source": {"type": "stripe", "config": source},
        "destination": destination_for_url(to, schema=schema),
    }
    if streams:
        pipeline["streams"] = [name.strip() for name in streams.split(",") if name.strip()]
    if backfill_limit is not None:
        pipeline["backfill_limit"] = backfill_limit
    return pipeline


def api_key_source(ctx: typer.Context) -> str | None:
    """Where ``--api-key`` came from, for a refused key's hint: the flag or the environment."""
    source = ctx.get_parameter_source("api_key")
    if source is None:
        return None
    return (
        "the environment variable STRIPE_API_KEY" if source.name == "ENVIRONMENT" else "--api-key"
    )


def parse_accounts(text: str) -> str | list[str]:
    """``self``, ``all`` or ``acct_1,acct_2`` → the source's ``accounts``."""
    if text.strip() in ("self", "all"):
        return text.strip()
    return [item.strip() for item in text.split(",") if item.strip()]


async def live_calls(
    call: Callable[[float | None], AsyncIterator[Message]],
    *,
    time_limit: float | None,
    abort: asyncio.Event,
) -> AsyncIterator[Message]:
    """Messages of ``call(time_limit_of_the_call)`` made again and again, for live mode.

    A call runs the backfill that is due, then applies changes until its time limit (the rest of
    ``time_limit``; none: until Ctrl-C). The next call follows when one ends on its own (after a
    reset, to re-backfill); an error, Ctrl-C, a state limit or the end of ``time_limit`` stops.
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        end: dict[str, Any] | None = None
        async for message in call(remaining):
            if message["type"] == "end":
                end = message["end"]
            yield message
        if end is None or end["reason"] in ("error", "aborted", "state_limit") or abort.is_set():
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        if end["reason"] != "complete":  # a live call that ended by itself
            await asyncio.sleep(LIVE_CALL_PAUSE_S)


def sync_command(
    ctx: typer.Context,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    to: To = "sqlite:///stripe.db",
    schema: Schema = None,
    pipeline_name: PipelineName = "default",
    streams: Streams = None,
    account: Account = None,
    accounts: Accounts = None,
    backfill_limit: BackfillLimit = None,
    time_limit: TimeLimitOption = None,
    state_limit: StateLimitOption = None,
    max_rps: MaxRps = None,
    max_streams: MaxStreams = None,
    progress: Progress = True,
    plain: Plain = False,
    ndjson: Ndjson = False,
    fresh: Fresh = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="keep applying changes after the backfill until Ctrl-C (default: off)"
        ),
    ] = False,
    poll_interval: PollInterval = None,
    engine_url: EngineUrlOption = None,
    engine_token: EngineTokenOption = None,
    wait: WaitOption = False,
) -> None:
    """Sync a Stripe account into a database; run it again to continue or catch up."""
    pipeline = parse_pipeline(
        stripe_pipeline(
            api_key=api_key,
            base_url=base_url,
            to=to,
            schema=schema,
            pipeline_name=pipeline_name,
            streams=streams,
            account=account,
            accounts=accounts,
            backfill_limit=backfill_limit,
            max_rps=max_rps,
            max_streams=max_streams,
            poll_interval=poll_interval,
        )
    )
    mode = OutputMode(progress=progress, plain=plain, ndjson=ndjson)

    async def main(abort: asyncio.Event) -> int:
        first_call = True

        def call(limit: float | None) -> AsyncIterator[Message]:
            nonlocal first_call
            fresh_now, first_call = fresh and first_call, False
            return sync_messages(
                pipeline,
                state=None,
                engine_url=engine_url,
                engine_token=engine_token,
                fresh=fresh_now,
                live=live,
                time_limit=limit,
                state_limit=state_limit,
                abort=abort,
                wait=wait,
            )

        if live:
            messages = live_calls(call, time_limit=time_limit, abort=abort)
        else:
            messages = call(time_limit)
        end = await render_sync(messages, mode, api_key_source(ctx))
        return exit_code_for_end(end)

    raise typer.Exit(run_command(main))
