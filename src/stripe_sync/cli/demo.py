"""`stripe-sync demo`: the whole engine on the built-in fake Stripe API, into a fresh database.

Starts the fake server in-process with a realistic live-mode data set (about 30 streams, 56,000
objects, 250 ms latency, Stripe's live limits), syncs it with a budget of 100 requests/s and the
live display, then prints a summary, answers two example queries from the new database and ends
with the subscription metrics of the last six months (``stripe-sync metrics``; a single account
only: the platform demo ends with its per-account queries).
It writes only into a database it created or marked as a demo one (``demo_database.py``).

With ``--connected-accounts N`` the fake is a platform with N connected accounts of skewed sizes
(account i holds 1/(i+1) of a quarter of that data set) and the demo syncs them all
(``accounts: all``), so the display groups by account; the queries compare the accounts.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.demo_database import claim_demo_database
from stripe_sync.cli.outcome import exit_code_for_end
from stripe_sync.cli.output import OutputMode, render_sync
from stripe_sync.cli.pipeline_commands import destination_state_store
from stripe_sync.cli.running import run_command
from stripe_sync.cli.sync_command import Ndjson, Plain, Progress, stripe_pipeline
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.engine.sync import sync
from stripe_sync.protocol.urls import redact_url

DEMO_OBJECTS = {
    "customers": 12000,
    "charges": 15000,
    "payment_intents": 8000,
    "invoices": 5000,
    "subscriptions": 2500,
    "subscription_items": 4000,
    "balance_transactions": 3000,
    "refunds": 1500,
    "products": 600,
    "prices": 900,
    "coupons": 200,
    "promotion_codes": 150,
    "invoiceitems": 800,
    "credit_notes": 300,
    "disputes": 120,
    "payouts": 400,
    "transfers": 300,
    "application_fees": 200,
    "checkout_sessions": 700,
    "setup_intents": 500,
    "payment_links": 60,
    "tax_rates": 20,
    "shipping_rates": 15,
    "plans": 80,
    "topups": 40,
    "reviews": 90,
    "files": 30,
    "webhook_endpoints": 5,
    "tax_ids": 25,
    "reporting_report_types": 12,
}
PLATFORM_SHARE = 4
"""The largest connected account holds the data set ÷ this."""
PLATFORM_STREAMS_AT_ONCE = 20
LATENCY_MS = 250
JITTER_MS = 50
ACCOUNT_RPS = 100
ENDPOINT_RPS = 25
DEMO_KEY = "sk_live_demo"
EXAMPLE_QUERIES = (
    (
        "Charges per month",
        "SELECT substr(created_at, 1, 7) AS month, count(*) AS charges, "
        "round(sum(amount) / 100.0, 2) AS amount FROM charges "
        "GROUP BY month ORDER BY month DESC LIMIT 6",
    ),
    (
        "Customers who paid the most",
        "SELECT customer, count(*) AS charges, round(sum(amount) / 100.0, 2) AS amount "
        "FROM charges WHERE customer IS NOT NULL GROUP BY customer ORDER BY amount DESC LIMIT 5",
    ),
)
PLATFORM_QUERIES = (
    (
        "Charges per connected account",
        "SELECT _account_id, count(*) AS charges, round(sum(amount) / 100.0, 2) AS amount "
        "FROM charges GROUP BY _account_id ORDER BY charges DESC LIMIT 5",
    ),
    (
        "Customers per connected account",
        "SELECT _account_id, count(*) AS customers FROM customers "
        "GROUP BY _account_id ORDER BY customers LIMIT 5",
    ),
)


def print_examples(database: Path, queries: tuple[tuple[str, str], ...]) -> None:
    """Run the example queries against the demo database and print them with their answers."""
    with sqlite3.connect(database) as connection:
        for title, query in queries:
            print(f'\n{title}:\n  sqlite3 {database} "{query}"', file=sys.stderr)
            for row in connection.execute(query):
                print("  " + " | ".join(str(value) for value in row), file=sys.stderr)


def print_metrics(to: str, months: int = 6) -> None:
    """The ``stripe-sync metrics`` table of the demo database, on stderr like the examples."""
    from stripe_sync.cli.metrics_command import table_lines
    from stripe_sync.metrics import monthly_metrics

    rows = monthly_metrics(to, months=months)
    print(
        f"\nMonthly recurring revenue and its movements:\n"
        f"  stripe-sync metrics --to {redact_url(to)} --months {months}",
        file=sys.stderr,
    )
    for line in table_lines(rows):
        print("  " + line, file=sys.stderr)


def demo_command(
    to: Annotated[
        str,
        typer.Option("--to", metavar="URL", help="demo database: sqlite:///FILE or postgresql://…"),
    ] = "sqlite:///stripe-demo.db",
    progress: Progress = True,
    plain: Plain = False,
    ndjson: Ndjson = False,
    connected_accounts: Annotated[
        int,
        typer.Option(
            "--connected-accounts",
            min=0,
            metavar="N",
            help="a platform with N connected accounts of skewed sizes, all synced",
        ),
    ] = 0,
) -> None:
    """Sync a fake Stripe account (30 streams, 56,000 objects) into a fresh database."""
    from stripe_sync.fake_stripe.config import FakeStripeConfig
    from stripe_sync.fake_stripe.server import FakeStripe

    fresh_file = claim_demo_database(to)
    platform = connected_accounts > 0
    objects = (
        {name: max(1, count // PLATFORM_SHARE) for name, count in DEMO_OBJECTS.items()}
        if platform
        else DEMO_OBJECTS
    )
    settings: dict[str, Any] = {
        "seed": 1,
        "objects": {"*": 0, **objects},
        "latency_ms": LATENCY_MS,
        "jitter_ms": JITTER_MS,
        "rate_limit": ACCOUNT_RPS,
        "endpoint_rate_limit": ENDPOINT_RPS,
        "connected_accounts": connected_accounts,
        "subscription_histories": True,
    }
    assert set(settings) <= set(FakeStripeConfig.__dataclass_fields__)
    mode = OutputMode(progress=progress, plain=plain, ndjson=ndjson)
    what = (
        f"a fake Stripe platform with {connected_accounts} connected accounts (the largest "
        f"with {sum(objects.values()):,} objects)"
        if platform
        else f"a fake Stripe account with {sum(objects.values()):,} objects"
    )
    print(
        f"demo: {what} in {len(objects)} streams "
        f"({LATENCY_MS} ms latency, {ACCOUNT_RPS} requests/s) → {redact_url(to)}",
        file=sys.stderr,
    )
    with FakeStripe(**settings) as fake:
        pipeline = parse_pipeline(
            stripe_pipeline(
                api_key=DEMO_KEY,
                base_url=fake.url,
                to=to,
                schema=None,
                pipeline_name="demo",
                streams=",".join(objects),
                accounts="all" if platform else None,
                max_rps=ACCOUNT_RPS,
                max_streams=PLATFORM_STREAMS_AT_ONCE if platform else None,
            )
        )

        async def main(abort: asyncio.Event) -> int:
            messages = sync(
                pipeline,
                fresh=True,
                state_store=destination_state_store(pipeline),
                abort=abort,
            )
            end = await render_sync(messages, mode)
            return exit_code_for_end(end)

        code = run_command(main)
    if code == exit_codes.DONE and fresh_file is not None:
        print_examples(fresh_file, PLATFORM_QUERIES if platform else EXAMPLE_QUERIES)
    if code == exit_codes.DONE and not platform:  # the platform demo compares accounts instead
        print_metrics(to)
    raise typer.Exit(code)
