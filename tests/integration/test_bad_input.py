"""Bad input sweep: every kind of bad input gives one clear line and its exit code, and the data
already stored is left exactly as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tests.support.engine import HARNESS
from tests.support.stripe import fake_stripe

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, cwd=cwd)


def one_clear_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def snapshot(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table' ORDER BY 1"
            )
        ]
        return [
            (
                table,
                *connection.execute(
                    f'SELECT count(*), total(length(_raw_data)) FROM "{table}"'
                ).fetchone(),
            )
            if table not in ("_sync_state", "_sync_deleted", "_sync_lease")
            else (table, connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in tables
        ]


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A fake account and a database that already holds a complete sync of it."""
    workdir = tmp_path_factory.mktemp("bad-input")
    with fake_stripe({"customers": 300, "products": 20}) as fake:
        done = cli(
            "sync",
            "--api-key",
            "sk_test_bad",
            "--base-url",
            fake.url,
            "--to",
            f"sqlite:///{workdir / 'kept.db'}",
            "--streams",
            "customers,products",
            "--max-rps",
            "0",
            "--no-progress",
            cwd=workdir,
        )
        assert done.returncode == 0, done.stderr
        yield fake, workdir


def test_malformed_pipeline_config_and_state_files_exit_2(synced):
    _, workdir = synced
    bad_pipeline = workdir / "pipeline.json"
    bad_pipeline.write_text('{"source": {"type": "stripe", "config": {"api_key": 5}},')
    assert cli("pipeline", "sync", "--pipeline", str(bad_pipeline)).returncode == 2
    invalid = {
        "source": {"type": "stripe", "config": {"api_key": "pk_live_nope"}},
        "destination": {"type": "sqlite", "config": {"url": f"sqlite:///{workdir / 'kept.db'}"}},
    }
    done = cli("pipeline", "sync", "--pipeline", orjson.dumps(invalid).decode())
    assert done.returncode == 2
    assert "api_key" in one_clear_line(done)
    good = {
        "source": {"type": "test", "config": {"streams": {"a": {"records": 3}}}},
        "destination": {"type": "test", "config": {}},
    }
    for content in (
        "[1, 2]",
        '{"engine": {"terminal_streams": {"a": "maybe"}}}',
        "\x00\x01garbage",
    ):
        state = workdir / "state.json"
        state.write_text(content)
        done = cli(
            "pipeline", "sync", "--pipeline", orjson.dumps(good).decode(), "--state", str(state)
        )
        assert done.returncode == 2, (content, done.stderr)
        one_clear_line(done)
        assert state.read_text() == content


def test_corrupt_sync_state_row_is_refused_and_nothing_changes(synced):
    fake, workdir = synced
    database = workdir / "corrupt.db"
    database.write_bytes((workdir / "kept.db").read_bytes())
    with sqlite3.connect(database) as connection:
        connection.execute('UPDATE _sync_state SET state = \'{"engine": {"streams": 7}}\'')
    before = snapshot(database)
    done = cli(
        "sync",
        "--api-key",
        "sk_test_bad",
        "--base-url",
        fake.url,
        "--to",
        f"sqlite:///{database}",
        "--streams",
        "customers",
        "--no-progress",
    )
    assert done.returncode == 2
    assert "state" in one_clear_line(done)
    assert snapshot(database) == before


def test_truncated_ndjson_from_an_exec_source_is_a_crash_not_a_success(tmp_path):
    script = tmp_path / "broken-source.sh"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f'  spec|discover|check) exec {HARNESS} source test "$@" ;;\n'
        '  read) printf \'{"type":"stream_status","stream_status":{"stream":"a","status":"started"}}\\n{"type":"rec\' ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    pipeline = {
        "source": {"type": "exec", "command": str(script), "config": {"catalog": ["a"]}},
        "destination": {"type": "test", "config": {}},
    }
    done = cli("pipeline", "sync", "--pipeline", orjson.dumps(pipeline).decode())
    assert done.returncode == 5
    end = orjson.loads(done.stdout.splitlines()[-1])["end"]
    assert end["reason"] == "error"
    assert "line 2" in end["run_progress"]["errors"][0]["message"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--time-limit", "-1"],
        ["--state-limit", "0"],
        ["--max-rps", "-5"],
        ["--backfill-limit", "0"],
        ["--state-limit", "many"],
        ["--max-concurrent-streams", "0"],
    ],
)
def test_absurd_limits_exit_2_before_anything_moves(flags, tmp_path):
    done = cli("sync", "--api-key", "sk_test_x", "--to", f"sqlite:///{tmp_path / 'x.db'}", *flags)
    assert done.returncode == 2
    assert not (tmp_path / "x.db").exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and flags[0] in lines[0], done.stderr  # one line naming the option


def test_a_server_answering_garbage_ends_with_an_error_and_leaves_data_alone(synced):
    _, workdir = synced
    database = workdir / "garbage.db"
    database.write_bytes((workdir / "kept.db").read_bytes())
    before = snapshot(database)
    with fake_stripe({"customers": 300}, garbage_rate=1.0) as garbage:
        pipeline = {
            "source": {
                "type": "stripe",
                "config": {
                    "api_key": "sk_test_bad",
                    "base_url": garbage.url,
                    "max_retries": 2,
                    "max_requests_per_second": 0,
                },
            },
            "destination": {"type": "sqlite", "config": {"url": f"sqlite:///{database}"}},
            "streams": ["customers"],
        }
        done = cli("pipeline", "sync", "--pipeline", orjson.dumps(pipeline).decode())
    assert done.returncode == 5
    end = orjson.loads(done.stdout.splitlines()[-1])["end"]
    error = end["run_progress"]["errors"][0]
    assert error["level"] == "global"
    assert "gave up after 3 attempts" in error["message"]
    assert snapshot(database) == before
