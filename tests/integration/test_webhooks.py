"""`stripe-sync webhooks serve` with the fake posting signed events to it: changes arrive within
seconds; forged, stale and unsigned posts get 400 and write nothing; a replay changes nothing; an
older event after a newer one does not win; rotated secrets; rejections counted and logged."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from tests.support.live import SqliteRows, sdk
from tests.support.stripe import fake_stripe

from stripe_sync.sources.stripe.catalog import load_catalog
from stripe_sync.sources.stripe.webhook_signature import sign

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], Any], within: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        time.sleep(0.02)
    return time.monotonic() - started


def table(target: SqliteRows, stream: str) -> list[tuple[Any, ...]]:
    """Every stored row, bookkeeping columns included (a write of any kind changes it)."""
    with sqlite3.connect(target.path) as connection:
        return connection.execute(
            f'SELECT id, _raw_data, _deleted, _version, _synced_at FROM "{stream}" ORDER BY id'
        ).fetchall()


def mode(target: SqliteRows) -> str | None:
    try:
        with sqlite3.connect(target.path) as connection:
            row = connection.execute("SELECT state FROM _sync_state").fetchone()
    except sqlite3.Error:
        return None
    return orjson.loads(row[0])["engine"].get("mode") if row else None


def test_webhooks_keep_the_database_current_and_bad_posts_change_nothing(tmp_path):
    target = SqliteRows(tmp_path / "hooks.db")
    port = free_port()
    hook = f"http://127.0.0.1:{port}/stripe/webhooks"
    objects = {"customers": 200, "subscriptions": 20}
    # events at the pinned API version: the forged variants below are applied as sent, not
    # retrieved again
    pinned = load_catalog().api_version
    with fake_stripe(
        objects, webhook_url=hook, webhook_secret=SECRET, account_api_version=pinned
    ) as fake:
        command = [
            *CLI,
            *("webhooks", "serve", "--port", str(port)),
            *("--webhook-secret", OLD_SECRET, "--webhook-secret", SECRET),
            *("--api-key", "sk_test_hooks", "--base-url", fake.url, "--to", target.url),
            *("--streams", "customers,subscriptions", "--poll-interval", "60"),
            *("--ndjson", "--no-progress"),
        ]
        with open(tmp_path / "out.ndjson", "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: mode(target) == "live", within=30)
            client = sdk(fake)
            customer = fake.data.streams["customers"].object_id(4)
            rows = target.rows

            client.v1.customers.update(customer, {"name": "pushed"})
            latency = wait_until(lambda: rows("customers")[customer]["name"] == "pushed", 5)
            subscription = next(
                s.id for s in client.v1.subscriptions.list({"limit": 20}) if s.status != "canceled"
            )
            client.v1.subscriptions.cancel(subscription)
            wait_until(lambda: rows("subscriptions")[subscription]["status"] == "canceled", 5)
            assert not rows("subscriptions")[subscription]["_deleted"]
            time.sleep(1.5)  # let the destination settle before comparing whole tables

            latest = client.v1.events.list({"type": "customer.updated", "limit": 1}).data[0]
            body = orjson.dumps(latest.to_dict())
            forged = body.replace(b"pushed", b"forged")
            before = table(target, "customers")
            posts = {
                "forged": httpx.post(hook, content=forged, headers=_signed(body, SECRET)),
                "stale": httpx.post(
                    hook, content=body, headers=_signed(body, SECRET, time.time() - 400)
                ),
                "unsigned": httpx.post(hook, content=body),
                "replayed": httpx.post(hook, content=body, headers=_signed(body, SECRET)),
            }
            assert {name: post.status_code for name, post in posts.items()} == {
                "forged": 400,
                "stale": 400,
                "unsigned": 400,
                "replayed": 200,
            }
            assert "no signature matches" in posts["forged"].json()["error"]["message"]

            older = _variant(latest.to_dict(), "evt_older", -5, "stale name")
            newer = _variant(latest.to_dict(), "evt_rotated", 1, "rotated secret")
            assert (
                httpx.post(hook, content=older, headers=_signed(older, SECRET)).status_code == 200
            )
            time.sleep(1.5)
            assert table(target, "customers") == before, "a rejected, replayed or older event wrote"
            assert (
                httpx.post(hook, content=newer, headers=_signed(newer, OLD_SECRET)).status_code
                == 200
            )
            wait_until(lambda: rows("customers")[customer]["name"] == "rotated secret", 5)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 4
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert f"listening http://127.0.0.1:{port}" in stderr
    assert latency < 5
    messages = [orjson.loads(line) for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    end = messages[-1]["end"]
    assert end["reason"] == "aborted"
    assert end["run_progress"]["live"]["webhooks_rejected"] == 3
    logs = [m["log"]["message"] for m in messages if m["type"] == "log"]
    assert sum(line.startswith("webhook rejected: ") for line in logs) == 3
    assert SECRET not in (tmp_path / "out.ndjson").read_text()


def _signed(body: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    moment = None if at is None else int(at)
    return {"Stripe-Signature": sign(body, secret, moment), "Content-Type": "application/json"}


def _variant(event: dict[str, Any], event_id: str, seconds: int, name: str) -> bytes:
    """The event as if Stripe had sent another one ``seconds`` later (or earlier)."""
    changed = {**event, "id": event_id, "created": event["created"] + seconds}
    changed["data"] = {**event["data"], "object": {**event["data"]["object"], "name": name}}
    return orjson.dumps(changed)
