"""Subprocess connectors: the same run as in-process, crashes surfaced, config files private."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
from tests.support.engine import HARNESS, comparable, make_pipeline, of_type, pinned_clock, run_sync

from stripe_sync.connectors.testing.destination import load_rows

STREAMS = {
    "customers": {"records": 23, "page_size": 5},
    "charges": {"records": 7, "page_size": 3, "supports_time_range": False},
    "coupons": {"records": 0, "skip_reason": "not enabled for this account"},
}


async def test_exec_connectors_give_the_same_run_as_in_process(tmp_path):
    runs = {}
    for label, exec_side in (("inproc", False), ("exec", True)):
        path = tmp_path / f"{label}.jsonl"
        pipeline = make_pipeline(
            STREAMS,
            path=str(path),
            name="same",
            exec_source=exec_side,
            exec_destination=exec_side,
        )
        messages, _ = await run_sync(pipeline, sync_run_id="run-1", clock=pinned_clock())
        runs[label] = (comparable(messages), load_rows(path))
    assert runs["inproc"][0] == runs["exec"][0]
    assert runs["inproc"][1] == runs["exec"][1]
    assert len(runs["exec"][1]) == 30


async def test_crash_of_an_exec_source_ends_with_a_global_system_error():
    scenario = [
        {"type": "stream_status", "stream_status": {"stream": "customers", "status": "started"}},
        {"crash": "boom from the source"},
    ]
    pipeline = {
        "source": {
            "type": "exec",
            "command": f"{HARNESS} source test",
            "config": {"scenario": scenario, "catalog": ["customers"]},
        },
        "destination": {"type": "test", "config": {"name": "crash"}},
    }
    messages, end = await run_sync(pipeline)
    assert end["reason"] == "error"
    errors = end["run_progress"]["errors"]
    assert errors[0]["level"] == "global"
    assert errors[0]["failure_type"] == "system_error"
    assert "boom from the source" in errors[0]["message"]
    assert any(log["message"].startswith("connector crashed:") for log in of_type(messages, "log"))


def cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_cli_exits_5_when_an_exec_source_crashes():
    pipeline = {
        "source": {
            "type": "exec",
            "command": f"{HARNESS} source test",
            "config": {"scenario": [{"exit": 3}], "catalog": ["customers"]},
        },
        "destination": {"type": "test", "config": {}},
    }
    done = cli("pipeline", "sync", "--pipeline", orjson.dumps(pipeline).decode())
    assert done.returncode == 5, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["type"] == "catalog"
    assert lines[-1]["type"] == "end"
    assert lines[-1]["end"]["reason"] == "error"
    assert "exited with code 3" in lines[-1]["end"]["run_progress"]["errors"][0]["message"]


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    good = orjson.dumps(make_pipeline({"customers": {"records": 1}})).decode()
    bad_state = tmp_path / "state.json"
    bad_state.write_text("{not json")
    cases = {
        "bad json": ["--pipeline", "{oops"],
        "unknown connector": [
            "--pipeline",
            '{"source": {"type": "nope"}, "destination": {"type": "test"}}',
        ],
        "invalid config": [
            "--pipeline",
            '{"source": {"type": "test", "config": {"streams": {"a": {"records": -1}}}},'
            ' "destination": {"type": "test"}}',
        ],
        "unreadable state": ["--pipeline", good, "--state", str(bad_state)],
        "unknown stream": [
            "--pipeline",
            '{"source": {"type": "test", "config": {"streams": {"a": {}}}},'
            ' "destination": {"type": "test"}, "streams": ["b"]}',
        ],
    }
    for label, args in cases.items():
        done = cli("pipeline", "sync", *args)
        assert done.returncode == 2, (label, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (label, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stdout == "", label
    assert bad_state.read_text() == "{not json"


def test_exec_connector_config_never_reaches_the_command_line(tmp_path):
    spy = tmp_path / "spy.sh"
    spy.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/argv\n'
        f'for f in "$5" "$7" "$9"; do [ -f "$f" ] && stat -c %a "$f" >> {tmp_path}/modes; done\n'
        f'exec {HARNESS} "$@"\n'
    )
    spy.chmod(0o700)
    pipeline = make_pipeline({"customers": {"records": 2}}, name="spy")
    pipeline["source"] = {
        "type": "exec",
        "command": f"{spy} source test",
        "config": {"streams": {"customers": {"records": 2}}},
    }
    done = cli(
        "pipeline", "sync", "--pipeline", orjson.dumps(pipeline).decode(), env={**os.environ}
    )
    assert done.returncode == 0, done.stderr
    assert "records" not in (tmp_path / "argv").read_text()
    assert set((tmp_path / "modes").read_text().split()) == {"600"}
