"""`stripe-sync serve-engine` and `--engine-url`: the CLI drives a remote engine as it drives the
in-process one (exit codes, state file, Ctrl-C), and a server stopping ends its syncs cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import orjson
from tests.support.engine import make_pipeline
from tests.support.engine_api import serve_engine

from stripe_sync.connectors.testing.destination import load_rows

STREAMS = {"customers": {"records": 20, "page_size": 5}, "charges": {"records": 6, "page_size": 2}}
SLOW = {"customers": {"records": 1000, "page_size": 1, "page_delay_s": 0.05}}


def cli(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def test_pipeline_sync_on_a_remote_engine_keeps_the_state_file_on_the_client(tmp_path):
    with serve_engine() as engine:
        url = engine.url
        pipeline = orjson.dumps(
            make_pipeline(STREAMS, path=str(tmp_path / "remote.jsonl"))
        ).decode()
        state = tmp_path / "state.json"
        args = ["pipeline", "sync", "--pipeline", pipeline, "--state", str(state)]
        first = cli(*args, "--state-limit", "2", "--engine-url", url)
        assert first.returncode == 3, first.stderr
        saved = orjson.loads(state.read_bytes())
        assert saved["source"]["streams"]["customers"]["offset"] == 10
        assert state.stat().st_mode & 0o777 == 0o600
        second = cli(*args, env={"STRIPE_SYNC_ENGINE_URL": url})
        assert second.returncode == 0, second.stderr
    lines = [orjson.loads(line) for line in second.stdout.splitlines()]
    assert lines[0]["type"] == "catalog"
    assert lines[-1]["type"] == "end"
    assert not any("_sync_state" in line for line in lines)
    assert orjson.loads(state.read_bytes()) == lines[-1]["end"]["ending_state"]
    local_pipeline = make_pipeline(STREAMS, path=str(tmp_path / "local.jsonl"))
    local = cli("pipeline", "sync", "--pipeline", orjson.dumps(local_pipeline).decode())
    assert local.returncode == 0, local.stderr
    assert load_rows(tmp_path / "remote.jsonl") == load_rows(tmp_path / "local.jsonl")
    assert len(load_rows(tmp_path / "remote.jsonl")) == 26


def test_ctrl_c_on_a_remote_sync_exits_4_with_the_state_saved(tmp_path):
    state = tmp_path / "state.json"
    pipeline = orjson.dumps(make_pipeline(SLOW, path=str(tmp_path / "rows.jsonl"))).decode()
    with serve_engine() as engine:
        url = engine.url
        command = [sys.executable, "-m", "stripe_sync.cli.main", "pipeline", "sync"]
        command += ["--pipeline", pipeline, "--state", str(state), "--engine-url", url]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as client:
            assert client.stdout is not None
            while b'"source_state"' not in client.stdout.readline():
                pass
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=30)
    assert client.returncode == 4, err
    end = orjson.loads(out.splitlines()[-1])["end"]
    assert end["reason"] == "aborted"
    assert orjson.loads(state.read_bytes())["source"]["streams"]["customers"]["offset"] >= 1


def test_a_stopping_server_ends_its_syncs_with_aborted(tmp_path):
    pipeline = make_pipeline(SLOW, path=str(tmp_path / "rows.jsonl"))
    with (
        serve_engine() as engine,
        httpx.Client() as client,
        client.stream("POST", engine.url + "/sync", json={"pipeline": pipeline}) as response,
    ):
        lines = response.iter_lines()
        while orjson.loads(next(lines))["type"] != "source_state":
            pass
        stopped_at = time.monotonic()
        engine.process.send_signal(signal.SIGINT)
        rest = [orjson.loads(line) for line in lines]
        assert engine.process.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at < 5
    end = rest[-1]["end"]
    assert end["reason"] == "aborted"
    assert end["request_progress"]["record_count"] >= 1
    assert len(load_rows(tmp_path / "rows.jsonl")) == end["run_progress"]["record_count"]


def test_the_engine_token_comes_from_the_environment(tmp_path):
    pipeline = orjson.dumps(make_pipeline(STREAMS)).decode()
    token = {"STRIPE_SYNC_ENGINE_TOKEN": "s3cret"}
    with serve_engine(env={**os.environ, **token}) as engine:
        url = engine.url
        good = cli("pipeline", "sync", "--pipeline", pipeline, "--engine-url", url, env=token)
        bad = cli("pipeline", "sync", "--pipeline", pipeline, "--engine-url", url)
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 5
    assert bad.stderr.strip().splitlines() == [
        f"stripe-sync: engine at {url}: missing or wrong bearer token"
    ]


def test_bad_engine_urls_are_usage_errors():
    pipeline = orjson.dumps(make_pipeline(STREAMS)).decode()
    for args in (
        ["pipeline", "sync", "--pipeline", pipeline, "--engine-url", "ftp://engine"],
        ["sync", "--api-key", "sk_test_x", "--engine-url", "engine:8000"],
    ):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"stripe-sync: engine URL must be http:// or https://, got '{args[-1]}'"
        ]


def test_request_bodies_never_reach_the_server_log(tmp_path):
    secret = "sk_live_do_not_log_me"
    good = make_pipeline({"customers": {"records": 3}}, destination={"name": secret})
    bad = make_pipeline({"customers": {"records": secret}}, destination={"name": secret})
    crash = {"crash": secret}
    failing = {
        "source": {"type": "test", "config": {"scenario": [crash], "catalog": ["customers"]}},
        "destination": {"type": "test", "config": {"name": secret}},
    }
    with serve_engine() as engine, httpx.Client(base_url=engine.url) as client:
        assert client.post("/sync", json={"pipeline": good}).status_code == 200
        refused = client.post("/sync", json={"pipeline": bad})
        assert refused.status_code == 400
        assert secret not in refused.text
        crashed = client.post("/read", json={"pipeline": failing})
        assert crashed.status_code == 200
        log = engine.stderr()
    assert '"POST /sync HTTP/1.1" 400' in log
    # the crash reaches the client (error and end), not the server's log
    *_, error, end = [orjson.loads(line) for line in crashed.text.splitlines()]
    assert error["error"]["message"] == secret
    assert end["end"]["reason"] == "error"
    assert secret not in log
