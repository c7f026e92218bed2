"""The engine never hangs and says what happened: driver failures, connector output checked at the
boundary, early stops, failed streams in ``end``, exit-code precedence, signals and the deadline."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
from tests.support.engine import collect, make_pipeline, of_type, run_sync
from tests.support.stripe import fake_stripe

from stripe_sync.cli.outcome import INTERNAL_ERROR_HINT, exit_code_for_end, failure_lines
from stripe_sync.cli.running import ABORT_DEADLINE_S
from stripe_sync.connectors.testing.destination import TestDestination
from stripe_sync.engine.connector_calls import read
from stripe_sync.engine.sync import Session, sync

REPO = Path(__file__).resolve().parents[2]
STARTED = {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}}
COMPLETE = {"type": "stream_status", "stream_status": {"stream": "customers", "status": "complete"}}


def scripted(scenario: list[dict], name: str) -> dict:
    return {
        "name": name,
        "source": {"type": "test", "config": {"scenario": scenario, "catalog": ["customers"]}},
        "destination": {"type": "test", "config": {"name": name}},
    }


def start_cli(*args: str, blocked: set[int] | None = None) -> subprocess.Popen[str]:
    """The CLI in a subprocess; ``blocked``: signals it starts with blocked, as a parent may leave
    them."""
    return subprocess.Popen(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.pthread_sigmask(signal.SIG_BLOCK, blocked)) if blocked else None,
    )


def ends(stdout: str) -> list[dict]:
    messages = [orjson.loads(line) for line in stdout.splitlines() if line.strip()]
    return [message["end"] for message in messages if message["type"] == "end"]


def exec_source(tmp_path: Path, body: str) -> str:
    """A tiny exec source: ``spec`` and ``check`` answered, ``discover`` and ``read`` by ``body``
    (Python with ``verb`` and ``emit(message)``)."""
    script = tmp_path / "source.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            verb = sys.argv[1]
            def emit(message):
                print(json.dumps(message), flush=True)
            if verb == "spec":
                emit({"type": "spec", "spec": {"config": {"type": "object"}}})
            elif verb == "check":
                emit({"type": "connection_status", "connection_status": {"status": "succeeded"}})
            """
        )
        + textwrap.dedent(body)
    )
    return f"{sys.executable} {script}"


GOOD_CATALOG = """
if verb == "discover":
    stream = {"name": "customers", "json_schema": {}, "primary_key": [["id"]],
              "supports_time_range": False}
    emit({"type": "catalog", "catalog": {"streams": [stream]}})
"""


def exec_pipeline(command: str, name: str) -> str:
    pipeline = {
        "name": name,
        "source": {"type": "exec", "command": command, "config": {}},
        "destination": {"type": "test", "config": {"name": name}},
    }
    return orjson.dumps(pipeline).decode()


# -- the engine never hangs ---------------------------------------------------------------------


async def test_an_exception_in_the_driver_ends_the_call_with_an_internal_error(monkeypatch):
    def broken(self: Session) -> list:
        raise KeyError("supports_time_range")

    monkeypatch.setattr(Session, "_display_catalog", broken)
    pipeline = make_pipeline({"customers": {"records": 3}}, name="driver-bug")
    messages = await asyncio.wait_for(collect(sync(pipeline)), timeout=30)
    end = messages[-1]["end"]
    assert messages[-1]["type"] == "end"
    assert end["reason"] == "error"
    assert end["error"]["internal"] is True
    assert end["error"]["emitted_by"] == "engine"
    assert end["error"]["failure_type"] == "system_error"
    assert "KeyError" in end["error"]["message"]
    assert "supports_time_range" in end["error"]["message"]
    [error] = of_type(messages, "error")
    assert error["level"] == "global"
    assert messages[0] == {**messages[0], "type": "catalog", "catalog": {"streams": []}}


def test_the_cli_exits_1_on_an_internal_error():
    pipeline = make_pipeline({"customers": {"records": 3}}, name="cli-bug")
    program = textwrap.dedent(
        """
        import sys
        from stripe_sync.engine.sync import Session
        def broken(self):
            raise KeyError("supports_time_range")
        Session._display_catalog = broken
        from stripe_sync.cli.main import main
        sys.argv = ["stripe-sync", "pipeline", "sync", "--pipeline", sys.argv[1]]
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program, orjson.dumps(pipeline).decode()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    [end] = ends(done.stdout)
    assert end["reason"] == "error"
    assert "internal error: KeyError" in end["error"]["message"]
    assert done.stderr.splitlines() == [
        f"stripe-sync: error: {end['error']['message']} ({INTERNAL_ERROR_HINT})"
    ]


def test_the_sync_command_names_an_internal_error_once_and_asks_for_a_report(tmp_path):
    """`stripe-sync sync` hitting an engine bug: exit 1, and its one stderr line is the ``end``'s
    error with a hint asking for a report."""
    program = textwrap.dedent(
        """
        import sys
        from stripe_sync.engine.sync import Session
        def broken(self):
            raise KeyError("supports_time_range")
        Session._display_catalog = broken
        from stripe_sync.cli.main import main
        sys.argv = ["stripe-sync", "sync", *sys.argv[1:]]
        main()
        """
    )
    with fake_stripe({"customers": 3}) as fake:
        options = ["--api-key", "sk_test_bug", "--base-url", fake.url, "--streams", "customers"]
        database = f"sqlite:///{tmp_path / 'bug.db'}"
        done = subprocess.run(
            [sys.executable, "-c", program, *options, "--to", database, "--no-progress"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    [end] = ends(done.stdout)
    assert done.stderr.splitlines() == [
        f"stripe-sync: error: {end['error']['message']} "
        "(a bug in stripe-sync: please report it with this message and the command you ran)"
    ]
    assert end["error"]["message"] == "internal error: KeyError: 'supports_time_range'"


def test_the_error_line_is_the_worst_global_error_not_the_last_one():
    worst = {"level": "global", "failure_type": "config_error", "message": "bad setting"}
    later = {"level": "global", "failure_type": "system_error", "message": "flush failed"}
    end = {
        "reason": "error",
        "has_more": True,
        "error": {**worst, "emitted_by": "destination/test"},
        "run_progress": {"errors": [worst, later]},
    }
    assert exit_code_for_end(end) == 2
    assert failure_lines(end) == ["stripe-sync: error: bad setting"]


def test_an_exec_catalog_without_supports_time_range_ends_in_an_error(tmp_path):
    command = exec_source(
        tmp_path,
        """
        if verb == "discover":
            stream = {"name": "customers", "json_schema": {}, "primary_key": [["id"]]}
            emit({"type": "catalog", "catalog": {"streams": [stream]}})
        """,
    )
    process = start_cli("pipeline", "sync", "--pipeline", exec_pipeline(command, "no-tr"))
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 5, stderr
    [end] = ends(stdout)
    assert end["reason"] == "error"
    message = end["error"]["message"]
    assert message.startswith("source/exec: invalid catalog: catalog.streams.0.supports_time_range")
    assert end["error"]["emitted_by"] == "source/exec"


def test_a_crash_of_exec_discover_produces_an_end(tmp_path):
    command = exec_source(
        tmp_path,
        """
        if verb == "discover":
            sys.exit("cannot list the streams")
        """,
    )
    process = start_cli("pipeline", "sync", "--pipeline", exec_pipeline(command, "discover"))
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 5, stderr
    [end] = ends(stdout)
    assert end["reason"] == "error"
    assert end["has_more"] is True
    assert "cannot list the streams" in end["error"]["message"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"type": "stream_status", "stream_status": {"stream": "customers", "status": "done"}},
            "source/exec: invalid stream_status: stream_status.status: ",
            id="status",
        ),
        pytest.param(
            {"type": "record", "record": {"stream": "customers", "emitted_at": "x"}},
            "source/exec: invalid record: record.data: expected an object, got nothing",
            id="record without data",
        ),
        pytest.param(
            {"type": "record"},
            "source/exec: invalid record: record: expected an object, got nothing",
            id="record without payload",
        ),
        pytest.param(
            {"type": "source_state", "source_state": {"data": {}}},
            "source/exec: invalid source_state: source_state.stream: ",
            id="state without stream",
        ),
        pytest.param(
            {"type": "recrod", "recrod": {}},
            "source/exec: unknown message type: 'recrod'",
            id="unknown type",
        ),
    ],
)
def test_a_malformed_exec_message_is_an_error_naming_type_field_and_connector(
    tmp_path, message, expected
):
    started = {
        "type": "stream_status",
        "stream_status": {"stream": "customers", "status": "started"},
    }
    command = exec_source(
        tmp_path,
        GOOD_CATALOG
        + f"""
if verb == "read":
    emit({started!r})
    emit({message!r})
""",
    )
    process = start_cli("pipeline", "sync", "--pipeline", exec_pipeline(command, "malformed"))
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 5, stderr
    [end] = ends(stdout)
    assert end["error"]["message"].startswith(expected), end["error"]["message"]
    assert end["error"]["emitted_by"] == "source/exec"


async def test_in_process_sources_are_checked_too():
    bad = {"type": "stream_status", "stream_status": {"stream": "customers", "status": "failed"}}
    _, end = await run_sync(scripted([STARTED, bad], "in-process-check"))
    assert end["reason"] == "error"
    assert end["error"]["message"].startswith(
        "source/test: invalid stream_status: stream_status.reason: "
    )


# -- what end says ------------------------------------------------------------------------------


async def test_a_source_that_stops_without_terminal_statuses_ends_in_an_error():
    _, end = await run_sync(scripted([STARTED], "early-stop"))
    assert end["reason"] == "error"
    assert end["has_more"] is True
    assert end["error"]["message"] == ("the source stopped without a terminal status for customers")
    assert end["error"]["emitted_by"] == "engine"


async def test_end_names_the_failed_streams():
    streams = {
        "customers": {"records": 10, "page_size": 5, "fail_after_pages": 1},
        "invoices": {"records": 10},
    }
    _, end = await run_sync(make_pipeline(streams, name="failed-names"))
    assert end["reason"] == "complete"
    assert end["has_more"] is False
    assert end["failed_streams"] == ["customers"]
    assert "error" not in end


# -- the worst outcome wins ---------------------------------------------------------------------


async def test_a_global_error_after_the_time_limit_ends_in_error():
    error = {
        "type": "error",
        "error": {"level": "global", "failure_type": "auth_error", "message": "key revoked"},
    }
    _, end = await run_sync(scripted([STARTED, {"sleep": 0.6}, error], "late"), time_limit=0.2)
    assert end["reason"] == "error"
    assert end["error"]["message"] == "key revoked"


def test_a_config_error_during_setup_exits_2():
    pipeline = {
        "name": "setup",
        "source": {"type": "test", "config": {"streams": {"customers": {"records": 1}}}},
        "destination": {"type": "tests.support.faulty:ConfigErrorInSetup", "config": {}},
    }
    process = start_cli("pipeline", "sync", "--pipeline", orjson.dumps(pipeline).decode())
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    [end] = ends(stdout)
    assert end["error"]["failure_type"] == "config_error"
    assert end["error"]["emitted_by"] == "destination/tests.support.faulty:ConfigErrorInSetup"


# -- signals and the hard deadline --------------------------------------------------------------


def wait_for_line(process: subprocess.Popen[str]) -> None:
    """Wait until the call printed its first message (it is running)."""
    assert process.stdout is not None
    assert process.stdout.readline()


def test_sigterm_stops_a_call_without_a_time_limit():
    scenario = [STARTED, {"sleep": 3600}]
    pipeline = orjson.dumps(scripted(scenario, "sigterm")).decode()
    process = start_cli("pipeline", "sync", "--pipeline", pipeline)
    wait_for_line(process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=ABORT_DEADLINE_S)
    assert process.returncode == 4, stderr
    [end] = ends(stdout)
    assert end["reason"] == "aborted"


def test_sigterm_stops_a_call_started_with_the_signal_blocked():
    scenario = [STARTED, {"sleep": 3600}]
    pipeline = orjson.dumps(scripted(scenario, "masked")).decode()
    process = start_cli("pipeline", "sync", "--pipeline", pipeline, blocked={signal.SIGTERM})
    wait_for_line(process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=ABORT_DEADLINE_S)
    assert process.returncode == 4, stderr
    [end] = ends(stdout)
    assert end["reason"] == "aborted"


def test_the_hard_deadline_stops_a_call_whose_event_loop_is_blocked():
    scenario = [STARTED, {"block": 3600}]
    pipeline = orjson.dumps(scripted(scenario, "blocked")).decode()
    process = start_cli("pipeline", "sync", "--pipeline", pipeline)
    wait_for_line(process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=ABORT_DEADLINE_S + 30)
    assert time.monotonic() - signalled >= ABORT_DEADLINE_S
    assert process.returncode == 4, stderr
    assert "not stopped in time, stopping at once" in stderr


def test_a_second_sigterm_stops_at_once_while_the_loop_is_blocked():
    scenario = [STARTED, {"block": 3600}]
    pipeline = orjson.dumps(scripted(scenario, "twice")).decode()
    process = start_cli("pipeline", "sync", "--pipeline", pipeline)
    wait_for_line(process)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=ABORT_DEADLINE_S - 1)
    assert process.returncode == 4, stderr
    assert "not stopped in time" not in stderr


# -- spec off the event loop, output bounded ----------------------------------------------------


async def test_an_exec_spec_is_asked_without_blocking_the_event_loop(tmp_path, monkeypatch):
    def blocking(*args, **kwargs):
        raise AssertionError("a blocking subprocess.run on the event loop")

    monkeypatch.setattr("stripe_sync.engine.exec_connector.subprocess.run", blocking)
    command = exec_source(
        tmp_path,
        GOOD_CATALOG
        + """
if verb == "read":
    emit({"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}})
    emit({"type": "stream_status", "stream_status": {"stream": "customers", "status": "complete"}})
""",
    )
    pipeline = orjson.loads(exec_pipeline(command, "spec-async"))
    _, end = await run_sync(pipeline)
    assert end["reason"] == "complete"


async def test_a_client_that_stops_reading_holds_the_source_back(monkeypatch):
    monkeypatch.setattr("stripe_sync.engine.sync.OUTPUT_LIMIT", 50)
    total = 3000
    pipeline = make_pipeline({"customers": {"records": total, "page_size": 1}}, name="slow-reader")
    rows = TestDestination.stores
    messages = sync(pipeline)
    await anext(messages)  # the catalog: the call runs; now the client reads nothing
    previous, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 0.5:
        await asyncio.sleep(0.05)
        count = len(rows.get("slow-reader", {}))
        if count != previous:
            previous, stable_since = count, time.monotonic()
    assert 0 < previous < total / 2
    rest = await collect(messages)
    assert rest[-1]["end"]["reason"] == "complete"
    assert len(rows["slow-reader"]) == total


async def test_read_alone_ends_with_an_error_on_a_crash_or_a_malformed_message():
    bad = {"type": "source_state", "source_state": {"state_type": "stream"}}
    for scenario, expected in (
        ([STARTED, {"crash": "boom"}], "boom"),
        ([STARTED, bad], "source/test: invalid source_state: source_state.stream: "),
    ):
        messages = await collect(read(scripted(scenario, "read-alone")))
        assert messages[-1]["end"]["reason"] == "error"
        [error] = of_type(messages, "error")
        assert error["message"].startswith(expected)


async def test_destination_output_is_checked_too():
    pipeline = {
        "name": "bad-stats",
        "source": {"type": "test", "config": {"streams": {"customers": {"records": 3}}}},
        "destination": {"type": "tests.support.faulty:StatsWithoutStream", "config": {}},
    }
    _, end = await run_sync(pipeline)
    assert end["reason"] == "error"
    assert end["error"]["message"] == (
        "destination/tests.support.faulty:StatsWithoutStream: invalid write_stats: "
        "write_stats.stream: Field required"
    )
