"""Helpers for live-changes tests: a SQLite destination to read back, syncs that keep their state
in it (as the CLI does), writes to the fake through the SDK, and ``verify``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import stripe

from stripe_sync.destinations.config import destination_for_url
from stripe_sync.engine.pipeline import parse_pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.fake_stripe.server import FakeStripe
from stripe_sync.protocol.ranges import parse_time
from stripe_sync.reconcile.verify import verify
from tests.support.destinations import Target
from tests.support.engine import run_sync
from tests.support.stripe import stripe_pipeline


class SqliteRows:
    """A SQLite destination file and what its tables hold."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def rows(self, stream: str) -> dict[str, dict[str, Any]]:
        """id → the stored object plus ``_deleted`` and ``_version``."""
        with sqlite3.connect(self.path) as connection:
            found = connection.execute(
                f'SELECT id, _raw_data, _deleted, _version FROM "{stream}"'
            ).fetchall()
        return {
            row[0]: {**orjson.loads(row[1]), "_deleted": bool(row[2]), "_version": row[3]}
            for row in found
        }

    def live_ids(self, stream: str) -> set[str]:
        return {key for key, row in self.rows(stream).items() if not row["_deleted"]}


def database_pipeline(
    fake: FakeStripe, target: SqliteRows | Target, streams: list[str], **source: Any
) -> dict[str, Any]:
    destination = destination_for_url(target.url)
    return stripe_pipeline(fake.url, streams, name="live", destination=destination, **source)


def stored(target: Target, stream: str) -> dict[str, dict[str, Any]]:
    """id → the stored object plus ``_deleted``, in a SQLite or Postgres destination."""
    rows = target.query(f"SELECT id, _raw_data, _deleted FROM {target.table(stream)}")
    return {
        row[0]: {
            **(orjson.loads(row[1]) if isinstance(row[1], str) else row[1]),
            "_deleted": bool(row[2]),
        }
        for row in rows
    }


async def sync_with_store(
    pipeline: dict[str, Any], **options: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One sync call with the state kept in the destination's ``_sync_state``."""
    store = destination_state_store(parse_pipeline(pipeline))
    assert store is not None
    try:
        return await run_sync(pipeline, state_store=store, **options)
    finally:
        await store.close()  # type: ignore[attr-defined]


async def saved_state(pipeline: dict[str, Any]) -> dict[str, Any]:
    store = destination_state_store(parse_pipeline(pipeline))
    assert store is not None
    try:
        return await store.load(pipeline["name"]) or {}
    finally:
        await store.close()  # type: ignore[attr-defined]


async def save_state(pipeline: dict[str, Any], state: dict[str, Any]) -> None:
    store = destination_state_store(parse_pipeline(pipeline))
    assert store is not None
    try:
        await store.save(pipeline["name"], state)
    finally:
        await store.close()  # type: ignore[attr-defined]


async def verify_all(pipeline: dict[str, Any], streams: list[str]) -> list[str]:
    """``verify`` after the last run: the lines of every stream that differs (empty: equal)."""
    state = await saved_state(pipeline)
    lt = parse_time(state["engine"]["started_at"])
    unlimited = {**pipeline["source"]["config"], "max_requests_per_second": 0}
    reports = await verify(unlimited, pipeline["destination"]["config"], streams, lt=lt)
    return [line for report in reports if not report.equal for line in report.lines()]


def sdk(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_live", base_addresses={"api": fake.url}, max_network_retries=0
    )
