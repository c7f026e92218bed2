"""The engine HTTP API over real HTTP: the same run as in-process, cancellation, bad input, tokens,
incremental streaming, failures mid-stream, and the connector verbs through the remote client."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import orjson
import pytest
from tests.support.engine import HARNESS, collect, comparable, make_pipeline, pinned_clock
from tests.support.engine_api import engine_in_thread

from stripe_sync.connectors.testing.destination import load_rows
from stripe_sync.engine import connector_calls
from stripe_sync.engine.remote import RemoteEngine, RemoteEngineError
from stripe_sync.engine.state_store import MemoryStateStore
from stripe_sync.engine.sync import sync
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.connector_policy import ConnectorPolicy

STREAMS = {
    "customers": {"records": 23, "page_size": 5},
    "charges": {"records": 7, "page_size": 3, "supports_time_range": False},
    "coupons": {"records": 0, "skip_reason": "not enabled for this account"},
}
SLOW = {"customers": {"records": 1000, "page_size": 1, "page_delay_s": 0.05}}


@pytest.fixture
def engine_url():
    watched = ConnectorPolicy.allowing(["tests.support.engine_api:WatchedSource"])
    with engine_in_thread(clock=pinned_clock(), connectors=watched) as url:
        yield url


async def test_remote_sync_gives_the_same_run_as_in_process(engine_url, tmp_path):
    runs = {}
    for label in ("inproc", "remote"):
        path = tmp_path / f"{label}.jsonl"
        # the engine runs in this process: keep the test destination's memory stores apart
        destination = {"name": f"same-{label}"}
        pipeline = make_pipeline(STREAMS, path=str(path), name="same", destination=destination)
        store = MemoryStateStore()
        if label == "inproc":
            options = {"clock": pinned_clock(), "state_store": store}
            engine_sync = sync
        else:
            options = {"state_store": store}
            engine_sync = RemoteEngine(engine_url).sync
        first = await collect(engine_sync(pipeline, sync_run_id="run-1", state_limit=3, **options))
        second = await collect(engine_sync(pipeline, **options))
        saved = store.states["same"]
        runs[label] = {
            "first": comparable(first),
            "second": comparable(second),
            "saved": (saved["source"], saved["engine"]["terminal_streams"]),
            "rows": load_rows(path),
        }
    assert runs["remote"] == runs["inproc"]
    assert runs["remote"]["first"][-1]["reason"] == "state_limit"
    assert runs["remote"]["second"][-1]["reason"] == "complete"
    assert len(runs["remote"]["rows"]) == 30


async def test_the_state_store_sees_each_confirmed_state_as_in_process(engine_url):
    saved: dict[str, list] = {}
    for label in ("inproc", "remote"):
        store = MemoryStateStore()
        snapshots = saved.setdefault(label, [])
        original = store.save

        async def save(name, state, original=original, snapshots=snapshots):
            snapshots.append(state["source"])
            await original(name, state)

        store.save = save  # type: ignore[method-assign]
        pipeline = make_pipeline({"customers": {"records": 10, "page_size": 2}}, name=label)
        engine = sync if label == "inproc" else RemoteEngine(engine_url).sync
        options = {"clock": pinned_clock()} if label == "inproc" else {}
        await collect(engine(pipeline, sync_run_id="r", state_store=store, **options))
    assert saved["remote"] == saved["inproc"]
    assert len(saved["remote"]) == 6  # five confirmed pages, then the end


async def test_abort_stops_a_slow_source_within_a_second(engine_url, tmp_path):
    marker = tmp_path / "closed"
    pipeline = {
        "source": {
            "type": "tests.support.engine_api:WatchedSource",
            "config": {"closed_marker": str(marker), "streams": SLOW},
        },
        "destination": {"type": "test", "config": {"path": str(tmp_path / "rows.jsonl")}},
    }
    abort = asyncio.Event()
    messages = []
    aborted_at = 0.0
    async for message in RemoteEngine(engine_url).sync(pipeline, abort=abort):
        messages.append(message)
        if message["type"] == "source_state" and not abort.is_set():
            abort.set()
            aborted_at = time.monotonic()
    assert time.monotonic() - aborted_at < 0.5
    end = messages[-1]["end"]
    assert end["reason"] == "aborted"
    assert end["ending_state"]["source"]["streams"]["customers"]["offset"] >= 1
    while not marker.exists() and time.monotonic() < aborted_at + 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert float(marker.read_text()) - aborted_at < 1.0
    rows = len(load_rows(tmp_path / "rows.jsonl"))
    await asyncio.sleep(0.3)
    assert len(load_rows(tmp_path / "rows.jsonl")) == rows < 100


async def test_closing_the_stream_stops_a_slow_exec_source_within_a_second(tmp_path):
    pids = tmp_path / "pids"
    wrapper = tmp_path / "source.sh"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> {pids}\nexec {HARNESS} "$@"\n')
    wrapper.chmod(0o700)
    pipeline = make_pipeline(SLOW)
    pipeline["source"] = {
        "type": "exec",
        "command": f"{wrapper} source test",
        "config": {"streams": SLOW},
    }
    allowed = ConnectorPolicy.allowing([pipeline["source"]["command"]])
    with engine_in_thread(connectors=allowed) as engine_url:
        messages = RemoteEngine(engine_url).sync(pipeline)
        async for message in messages:
            if message["type"] == "source_state":
                break
        reader = int(pids.read_text().split()[-1])  # spec and discover ran before read
        await messages.aclose()
        closed_at = time.monotonic()
        while time.monotonic() < closed_at + 2:
            try:
                os.kill(reader, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.01)
        assert time.monotonic() - closed_at < 1.0, "the exec source still runs"


BAD_BODIES = {
    "not json": ("/sync", b"{oops", "not valid JSON"),
    "not an object": ("/sync", b"[1, 2]", "invalid request: body"),
    "no pipeline": ("/sync", b"{}", "invalid request: pipeline: Field required"),
    "unknown field": (
        "/sync",
        b'{"pipeline": {"source": {"type": "test"}, "destination": {"type": "test"}}, "x": 1}',
        "invalid request: x: Extra inputs are not permitted",
    ),
    "unknown source type": (
        "/sync",
        b'{"pipeline": {"source": {"type": "nope"}, "destination": {"type": "test"}}}',
        "unknown source type 'nope'",
    ),
    "invalid config": (
        "/sync",
        b'{"pipeline": {"source": {"type": "test", "config": {"streams": {"a": {"records": -1}}}},'
        b' "destination": {"type": "test"}}}',
        "invalid source config: streams.a.records",
    ),
    "unknown stream": (
        "/read",
        b'{"pipeline": {"source": {"type": "test", "config": {"streams": {"a": {}}}},'
        b' "destination": {"type": "test"}, "streams": ["b"]}}',
        "b",
    ),
    "bad state": (
        "/sync",
        b'{"pipeline": {"source": {"type": "test"}, "destination": {"type": "test"}},'
        b' "state": {"engine": []}}',
        "state is not a valid sync state: engine",
    ),
    "state and destination state": (
        "/sync",
        b'{"pipeline": {"source": {"type": "test"}, "destination": {"type": "test"}},'
        b' "state": {}, "use_destination_state": true}',
        "either state or use_destination_state",
    ),
    "negative state limit": (
        "/sync",
        b'{"pipeline": {"source": {"type": "test"}, "destination": {"type": "test"}},'
        b' "state_limit": 0}',
        "invalid request: state_limit",
    ),
    "exec without command": (
        "/discover",
        b'{"pipeline": {"source": {"type": "exec", "command": "  "}, "destination": {"type": "test"}}}',
        "an exec connector needs 'command'",
    ),
    "unknown side": (
        "/check",
        b'{"pipeline": {"source": {"type": "test"}, "destination": {"type": "test"}}, "side": "x"}',
        "invalid request: side",
    ),
    "write without pipeline line": ("/write", b'{"type": "record"}\n', "invalid request: pipeline"),
    "write with bad first line": ("/write", b"{oops\n", "invalid NDJSON on line 1"),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
async def test_bad_bodies_get_a_400_with_one_line(engine_url, case):
    path, body, expected = BAD_BODIES[case]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            engine_url + path, content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["failure_type"] == "config_error"
    assert expected in error["message"]
    assert "\n" not in error["message"]


async def test_the_remote_client_raises_config_error_before_any_message(engine_url):
    pipeline = {"source": {"type": "nope"}, "destination": {"type": "test"}}
    with pytest.raises(ConfigError, match="unknown source type 'nope'"):
        await anext(RemoteEngine(engine_url).sync(pipeline))
    with pytest.raises(ConfigError, match="engine URL must be http"):
        RemoteEngine("ftp://example")


async def test_a_connector_failing_before_the_run_is_a_422():
    pipeline = {
        "source": {"type": "exec", "command": "/nonexistent/x"},
        "destination": {"type": "test"},
    }
    allowed = ConnectorPolicy.allowing(["/nonexistent/x"])
    with (
        engine_in_thread(connectors=allowed) as url,
        pytest.raises(RemoteEngineError, match="cannot start /nonexistent/x") as failure,
    ):
        await anext(RemoteEngine(url).sync(pipeline))
    assert failure.value.failure_type == "system_error"


async def test_the_api_token_is_required_except_for_health():
    pipeline = make_pipeline({"customers": {"records": 2}})
    with engine_in_thread("s3cret") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            assert (await client.get("/openapi.json")).status_code == 200
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
                refused = await client.post("/sync", json={"pipeline": pipeline}, headers=headers)
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"] == "Bearer"
                assert refused.json()["error"]["failure_type"] == "auth_error"
            garbage = await client.post("/sync", content=b"{oops")
            assert garbage.status_code == 401
        with pytest.raises(RemoteEngineError) as refused_client:
            await anext(RemoteEngine(url, "wrong").sync(pipeline))
        assert refused_client.value.failure_type == "auth_error"
        messages = await collect(RemoteEngine(url, "s3cret").sync(pipeline))
        assert messages[-1]["end"]["reason"] == "complete"


async def test_messages_are_streamed_as_they_are_produced(engine_url):
    pipeline = make_pipeline({"customers": {"records": 5, "page_size": 1, "page_delay_s": 0.25}})
    arrivals = []
    started = time.monotonic()
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", engine_url + "/sync", json={"pipeline": pipeline}) as response,
    ):
        assert response.headers["content-type"] == "application/x-ndjson"
        async for line in response.aiter_lines():
            arrivals.append((time.monotonic() - started, orjson.loads(line)["type"]))
    assert arrivals[0][1] == "catalog"
    assert arrivals[-1][1] == "end"
    assert arrivals[-1][0] - arrivals[0][0] >= 1.0
    states = [at for at, kind in arrivals if kind == "source_state"]
    assert len(states) == 5
    assert states[0] < arrivals[-1][0] - 0.75


async def test_a_failure_mid_stream_ends_with_error_and_end(engine_url):
    scenario = [
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}},
        {"crash": "boom mid-stream"},
    ]
    pipeline = {
        "source": {"type": "test", "config": {"scenario": scenario, "catalog": ["customers"]}},
        "destination": {"type": "test"},
    }
    messages = await collect(RemoteEngine(engine_url).read(pipeline))
    assert [m["type"] for m in messages] == ["stream_status", "error", "end"]
    assert messages[1]["error"]["message"] == "boom mid-stream"
    assert messages[1]["error"]["level"] == "global"
    assert messages[2]["end"]["reason"] == "error"


async def test_connector_verbs_match_in_process(engine_url, tmp_path):
    remote = RemoteEngine(engine_url)
    pipeline = make_pipeline(STREAMS, path=str(tmp_path / "rows.jsonl"), name="verbs")
    for role in ("source", "destination"):
        assert await remote.check(pipeline, role) == await connector_calls.check(pipeline, role)
        await remote.setup(pipeline, role)
        await remote.teardown(pipeline, role)
    assert await remote.discover(pipeline) == await connector_calls.discover(pipeline)

    remote_read = await collect(remote.read(pipeline, state_limit=4))
    local_read = await collect(connector_calls.read(pipeline, state_limit=4))
    assert remote_read[-1]["end"]["reason"] == "state_limit"
    assert [m["type"] for m in remote_read] == [m["type"] for m in local_read]
    assert (
        remote_read[-1]["end"]["ending_state"]["source"]
        == local_read[-1]["end"]["ending_state"]["source"]
    )

    async def records():
        for message in remote_read:
            if message["type"] in ("record", "source_state"):
                yield message

    written = await collect(remote.write(pipeline, records()))
    assert [m["type"] for m in written].count("source_state") == 4
    assert len(load_rows(tmp_path / "rows.jsonl")) == 20
