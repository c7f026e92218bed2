"""Connected accounts: one pipeline syncs every connected account of a platform.

Against the fake's connected accounts (separate data per ``Stripe-Account``, skewed sizes, the
platform's limits shared): everything arrives per account and ``verify`` agrees per account, the
shared budget is respected and small accounts finish in their fair time, the stream slots are
shared by all accounts, an account that revokes access mid-sync fails alone, continuation calls
skip finished account-streams, accounts added to the list are picked up by the next run, and each
account's changes arrive by its events (an incremental run, live polling, pushed webhooks).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.support.account_timing import TERMINAL, account_timings
from tests.support.engine import collect, of_type, run_sync
from tests.support.live import sdk
from tests.support.stripe import fake_stripe, stripe_pipeline

from stripe_sync.engine.sync import sync
from stripe_sync.protocol.ranges import parse_time
from stripe_sync.reconcile.verify import verify
from stripe_sync.sources.stripe.source import StripeSource

STREAMS = ["customers", "charges", "products"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stripe_sync.cli.main", *args, "--no-progress"]
    if args[0] == "verify":
        command.pop()
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def sqlite_target(path: Any) -> dict[str, Any]:
    return {"type": "sqlite", "config": {"url": f"sqlite:///{path}"}}


def rows_by_account(path: Any, table: str) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        query = f"SELECT _account_id, count(*) FROM {table} GROUP BY _account_id"
        return dict(connection.execute(query).fetchall())


async def test_fifty_accounts_of_skewed_sizes_sync_completely_within_the_budget(tmp_path):
    objects = {"customers": 2500, "charges": 2500, "products": 2500}
    budget = 40
    with fake_stripe(objects, connected_accounts=50, rate_limit=100, latency_ms=5) as fake:
        accounts = fake.api.connected
        sizes = [len(fake.api.accounts[a].streams["customers"]) for a in accounts]
        assert sizes[0] == 2500 and sizes[-1] == 50  # skewed: account i has 1/(i+1) of the data
        pipeline = stripe_pipeline(
            fake.url,
            STREAMS,
            destination=sqlite_target(tmp_path / "a.db"),
            accounts="all",
            max_requests_per_second=budget,
            max_concurrent_streams=8,
        )
        arrivals = [
            (time.monotonic(), message) async for message in sync(pipeline, progress_interval=0.1)
        ]
        messages = [message for _, message in arrivals]
        end = messages[-1]["end"]
        stats = fake.stats()

        assert end["reason"] == "complete" and not end["has_more"], of_type(messages, "error")
        # every account with at most 1 % of the pages finishes within its fair time + 10 s
        small = [timing for timing in account_timings(arrivals, budget) if timing.small]
        assert len(small) >= 20
        assert all(t.took_s <= t.fair_s + 10 for t in small), small
        terminal = end["ending_state"]["engine"]["terminal_streams"]
        assert terminal == {f"{a}/{s}": "complete" for a in accounts for s in STREAMS}
        assert of_type(messages, "catalog")[0]["per_account"] is True
        progress = end["run_progress"]["streams"]
        assert progress[f"{accounts[0]}/customers"]["account"] == accounts[0]
        assert progress[f"{accounts[0]}/customers"]["record_count"] == 2500
        for table in STREAMS:
            expected = {a: len(fake.api.accounts[a].streams[table]) for a in accounts}
            assert rows_by_account(tmp_path / "a.db", table) == expected
        # the platform's limits were never hit, and the source kept to its budget
        assert stats["rate_limited_total"] == 0
        seconds = end["request_progress"]["elapsed_ms"] / 1000
        assert stats["accepted_total"] <= budget * seconds * 1.05 + budget * 0.25 + 1
        # a one-second window sees the bucket's quarter-second burst plus arrival jitter under load
        assert stats["max_accepted_per_second"] <= budget * 1.5

        reports = await verify(
            pipeline["source"]["config"],
            pipeline["destination"]["config"],
            list(terminal),
            lt=parse_time(end["ending_state"]["engine"]["started_at"]),
        )
        assert len(reports) == 150
        assert all(report.equal for report in reports), [r.lines() for r in reports]


async def test_an_account_revoking_access_mid_sync_fails_alone(tmp_path):
    objects = {"customers": 3000, "charges": 200}
    with fake_stripe(objects, connected_accounts=4, latency_ms=5) as fake:
        accounts = fake.api.connected
        victim = accounts[0]
        pipeline = stripe_pipeline(
            fake.url,
            ["customers", "charges"],
            destination=sqlite_target(tmp_path / "r.db"),
            accounts="all",
            max_requests_per_second=20,
        )
        messages = []
        async for message in sync(pipeline, progress_interval=0.1):
            messages.append(message)
            if message["type"] == "progress":
                entry = message["progress"]["streams"].get(f"{victim}/customers") or {}
                if entry.get("record_count", 0) >= 300 and victim not in fake.api.revoked:
                    fake.api.revoke(victim)
        end = messages[-1]["end"]

    errors = of_type(messages, "error")
    assert [(e["level"], e.get("account")) for e in errors] == [("account", victim)]
    assert errors[0]["failure_type"] == "permission_error"
    terminal = end["ending_state"]["engine"]["terminal_streams"]
    assert terminal[f"{victim}/customers"] == "failed"
    others = {k: v for k, v in terminal.items() if not k.startswith(victim)}
    assert others == {
        f"{a}/{s}": "complete" for a in accounts[1:] for s in ("customers", "charges")
    }
    assert end["reason"] == "complete" and not end["has_more"]
    counts = rows_by_account(tmp_path / "r.db", "customers")
    assert 300 <= counts[victim] < 3000
    assert all(counts[a] == round(3000 / (i + 1)) for i, a in enumerate(accounts) if a != victim)


async def test_denied_accounts_and_continuation_after_a_state_limit(tmp_path):
    with fake_stripe({"customers": 800}, connected_accounts=6, denied_accounts=2) as fake:
        accounts = fake.api.connected
        pipeline = stripe_pipeline(
            fake.url,
            ["customers"],
            destination=sqlite_target(tmp_path / "c.db"),
            accounts="all",
            max_concurrent_streams=2,
        )
        state = None
        calls = []
        for _ in range(30):
            _, end = await run_sync(pipeline, state, state_limit=3)
            calls.append(end)
            state = end["ending_state"]
            if not end["has_more"]:
                break
            assert end["reason"] == "state_limit"
        lookups = fake.stats()["requests"]["GET /v1/account"]["200"]

    assert len(calls) > 2 and not end["has_more"]
    assert state["engine"]["terminal_streams"] == {
        f"{a}/customers": "complete" for a in accounts[:4]
    }
    assert state["engine"]["accounts"]["listed"] is True
    # an account whose streams all finished is not even looked up again by later calls
    assert lookups < 4 * len(calls)
    assert rows_by_account(tmp_path / "c.db", "customers") == {
        account: round(800 / (index + 1)) for index, account in enumerate(accounts[:4])
    }
    errors = [e for call in calls for e in call["run_progress"]["errors"]]
    assert {e["account"] for e in errors} == set(accounts[4:])


async def test_accounts_added_to_the_list_are_picked_up_by_the_next_run(tmp_path):
    with fake_stripe({"customers": 300}, connected_accounts=3) as fake:
        first, second, third = fake.api.connected
        pipeline = stripe_pipeline(fake.url, ["customers"], accounts=[first, second])
        _, end = await run_sync(pipeline)
        assert not end["has_more"]
        pipeline["source"]["config"]["accounts"] = [first, second, third]
        messages, end = await run_sync(pipeline, end["ending_state"])
        assert not end["has_more"] and end["reason"] == "complete"
        progress = end["run_progress"]["streams"]
        assert progress[f"{third}/customers"]["record_count"] == 100
        assert progress[f"{first}/customers"]["record_count"] == 0  # incremental: nothing new
        ranges = [s for s in of_type(messages, "progress")][-1]["streams"]
        assert "gte" in ranges[f"{first}/customers"]["total_range"]
        assert "gte" in ranges[f"{third}/customers"]["total_range"]  # from the account's start


def test_cli_sync_and_verify_with_accounts(tmp_path):
    with fake_stripe({"customers": 250, "products": 30}, connected_accounts=4) as fake:
        common = ["--api-key", "sk_test_accounts", "--base-url", fake.url]
        common += ["--to", f"sqlite:///{tmp_path / 'cli.db'}"]
        streams = ["--streams", "customers,products", "--max-concurrent-streams", "8"]
        done = cli("sync", *common, "--accounts", "all", *streams)
        assert done.returncode == 0, done.stderr
        checked = cli("verify", *common, "--accounts", "all")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "all 8 streams equal" in checked.stdout
        assert f"{fake.api.connected[3]}/customers: 62 in the API" in checked.stdout
        assert "accounts: 4 equal, 0 different" in checked.stdout
        # a row lost from one account is that account's difference, named per account
        damaged = fake.api.connected[1]
        with sqlite3.connect(tmp_path / "cli.db") as connection:
            connection.execute(
                "DELETE FROM customers WHERE id = (SELECT min(id) FROM customers"
                " WHERE _account_id = ?)",
                (damaged,),
            )
        checked = cli("verify", *common, "--accounts", "all")
        assert checked.returncode == 6, checked.stdout + checked.stderr
        assert f"{damaged}: customers different" in checked.stdout
        assert f"accounts: 3 equal, 1 different ({damaged})" in checked.stdout
        bad = cli("sync", *common, "--accounts", "acct_1,cus_2", "--pipeline-name", "x")
        assert bad.returncode == 2 and "acct_" in bad.stderr


async def test_max_concurrent_streams_bounds_the_account_streams_of_all_accounts():
    limit = 4
    with fake_stripe(
        {"customers": 400, "charges": 200, "products": 100}, connected_accounts=10
    ) as fake:
        config = stripe_pipeline(
            fake.url, None, accounts="all", max_concurrent_streams=limit, max_requests_per_second=0
        )["source"]["config"]
        catalog = {"streams": [{"name": name} for name in STREAMS]}
        running: set[str] = set()
        most = 0
        order: list[str] = []
        async for message in StripeSource().read(config, catalog, {}):
            status = message.get("stream_status")
            if status is None:
                continue
            key = f"{status['account']}/{status['stream']}"
            if status["status"] == "started":
                running.add(key)
                most = max(most, len(running))
                order.append(status["account"])
            elif status["status"] in TERMINAL:
                running.discard(key)
        accounts = fake.api.connected
    assert most == limit
    # slots go account by account: an account's streams start before any of a later account
    assert order == [account for account in accounts for _ in STREAMS]


async def test_an_incremental_run_applies_each_accounts_changes(tmp_path):
    with fake_stripe({"customers": 300}, connected_accounts=3) as fake:
        first, second, _ = fake.api.connected
        path = tmp_path / "i.db"
        pipeline = stripe_pipeline(
            fake.url, ["customers"], destination=sqlite_target(path), accounts="all"
        )
        _, end = await run_sync(pipeline)
        cursors = end["ending_state"]["source"]["global"]["accounts"]
        assert set(cursors) == set(fake.api.connected)
        client = sdk(fake)
        changed = fake.api.accounts[second].streams["customers"].object_id(3)
        gone = fake.api.accounts[first].streams["customers"].object_id(5)
        options = {"stripe_account": second}
        await asyncio.to_thread(client.v1.customers.update, changed, {"name": "renamed"}, options)
        await asyncio.to_thread(client.v1.customers.delete, gone, {}, {"stripe_account": first})

        messages, end = await run_sync(pipeline, end["ending_state"])
        assert end["reason"] == "complete" and not end["has_more"], of_type(messages, "error")
        with sqlite3.connect(path) as connection:
            rows = dict(
                connection.execute("SELECT id, _account_id FROM customers WHERE name = 'renamed'")
            )
            deleted = connection.execute(
                "SELECT _account_id FROM customers WHERE id = ? AND _deleted", (gone,)
            ).fetchall()
        assert rows == {changed: second}
        assert deleted == [(first,)]
        assert end["run_progress"]["live"]["event_count"] == 2


async def test_live_mode_follows_every_connected_account(tmp_path):
    with fake_stripe({"customers": 200}, connected_accounts=3) as fake:
        accounts = fake.api.connected
        path = tmp_path / "l.db"
        pipeline = stripe_pipeline(
            fake.url,
            ["customers"],
            destination=sqlite_target(path),
            accounts="all",
            poll_interval=0.3,
        )
        _, end = await run_sync(pipeline)
        pushed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def webhook_input() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await pushed.get()

        abort = asyncio.Event()
        calls = sync(pipeline, end["ending_state"], live=True, abort=abort, input=webhook_input())
        syncing = asyncio.create_task(collect(calls))
        client = sdk(fake)
        polled = fake.api.accounts[accounts[2]].streams["customers"].object_id(1)
        await asyncio.sleep(1)
        await asyncio.to_thread(
            client.v1.customers.update, polled, {"name": "polled"}, {"stripe_account": accounts[2]}
        )
        # a pushed event of another account, built as Stripe's Connect webhooks send them
        customer = fake.api.accounts[accounts[1]].streams["customers"].object_id(2)
        obj = await asyncio.to_thread(
            client.v1.customers.retrieve, customer, {}, {"stripe_account": accounts[1]}
        )
        event = {
            "id": "evt_pushed_1",
            "object": "event",
            "type": "customer.updated",
            "created": int(time.time()),
            "account": accounts[1],
            "data": {"object": {**obj.to_dict(), "name": "pushed"}},
        }
        await pushed.put(event)
        await pushed.put({**event, "id": "evt_elsewhere", "account": "acct_notsyncedhere"})
        names = {}
        for _ in range(100):
            await asyncio.sleep(0.1)
            with sqlite3.connect(path) as connection:
                query = "SELECT id, name FROM customers WHERE name IN ('polled', 'pushed')"
                names = dict(connection.execute(query).fetchall())
            if len(names) == 2:
                break
        abort.set()
        messages = await syncing
    assert names == {polled: "polled", customer: "pushed"}
    end = messages[-1]["end"]
    assert end["reason"] == "aborted" and not end["has_more"]
    assert set(end["ending_state"]["source"]["global"]["accounts"]) == set(accounts)
    logs = [log["message"] for log in of_type(messages, "log")]
    assert any("acct_notsyncedhere" in line for line in logs)


async def test_one_refused_account_synced_alone_is_a_global_error():
    with fake_stripe({"customers": 50}, connected_accounts=2, denied_accounts=1) as fake:
        refused = fake.api.connected[-1]
        pipeline = stripe_pipeline(fake.url, ["customers"], account=refused)
        messages, end = await run_sync(pipeline)
    errors = of_type(messages, "error")
    assert [(e["level"], e["failure_type"], e["account"]) for e in errors] == [
        ("global", "permission_error", refused)
    ]
    assert end["reason"] == "error"


async def test_an_accounts_cursor_past_the_events_window_re_backfills_that_account_alone(
    tmp_path,
):
    with fake_stripe({"customers": 300}, connected_accounts=2) as fake:
        stale, fresh = fake.api.connected
        path = tmp_path / "w.db"
        pipeline = stripe_pipeline(
            fake.url, ["customers"], destination=sqlite_target(path), accounts="all"
        )
        _, end = await run_sync(pipeline)
        state = end["ending_state"]
        cursors = state["source"]["global"]["accounts"]
        cursors[stale]["events"]["cursor_created"] = int(time.time()) - 31 * 86_400
        with sqlite3.connect(path) as connection:  # rows lost behind the sync's back
            connection.execute("DELETE FROM customers WHERE rowid % 2 = 0")
        messages, end = await run_sync(pipeline, state)

    assert end["reason"] == "complete" and not end["has_more"], of_type(messages, "error")
    logs = [log["message"] for log in of_type(messages, "log")]
    assert [line for line in logs if line.startswith("stream reset: ")] == [
        f"stream reset: {stale}/customers: events cursor is 31.0 days old; "
        "Stripe keeps 30 days of events"
    ]
    # the stale account was backfilled from its beginning; the other one only incrementally
    assert rows_by_account(path, "customers")[stale] == 300
    assert rows_by_account(path, "customers")[fresh] < 150
    assert end["run_progress"]["streams"][f"{stale}/customers"]["record_count"] == 300
    cursor = end["ending_state"]["source"]["global"]["accounts"][stale]["events"]
    assert cursor["cursor_created"] >= int(time.time()) - 60
