"""The command people run, in a real terminal (tmux) and with redirected outputs."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import orjson
import pytest
from tests.support.stripe import fake_stripe
from tests.support.terminal import TmuxSession

from stripe_sync.cli.demo import DEMO_OBJECTS, PLATFORM_SHARE

ANSI = re.compile(r"\x1b\[")
STREAMS = "customers,charges,invoices,products"
CLI = f"{sys.executable} -m stripe_sync.cli.main"


@pytest.fixture(scope="module")
def slow_fake():
    objects = {"customers": 3000, "charges": 3000, "invoices": 600, "products": 50}
    with fake_stripe(objects, latency_ms=60, rate_limit=40, endpoint_rate_limit=15) as fake:
        yield fake


def sync_args(fake, database) -> str:
    return (
        f"{CLI} sync --api-key sk_test_tty --base-url {fake.url} --to sqlite:///{database} "
        f"--streams {STREAMS} --max-rps 40"
    )


def read_ndjson(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_live_display_on_the_terminal_and_ndjson_in_the_file(slow_fake, tmp_path):
    session = TmuxSession(f"{sync_args(slow_fake, 'a.db')} > out.ndjson", tmp_path)
    try:
        running = session.wait_for("started", timeout=60)
        assert "customers" in running
        assert "━" in running or "╸" in running, "no coverage bar on screen"
        assert session.exit_code(timeout=120) == 0
        final = session.wait_for("streams: 4 complete")
        assert "complete:" in final
        assert "requests" in final
    finally:
        session.close()
    messages = read_ndjson(tmp_path / "out.ndjson")
    assert messages[0]["type"] == "catalog"
    assert messages[-1]["type"] == "end"
    assert messages[-1]["end"]["reason"] == "complete"


def test_ctrl_c_aborts_with_exit_4_and_the_same_command_finishes_and_verifies(slow_fake, tmp_path):
    command = f"{sync_args(slow_fake, 'b.db')} > out.ndjson"
    session = TmuxSession(command, tmp_path)
    try:
        session.wait_for("started", timeout=60)
        session.send_keys("C-c")
        assert session.exit_code(timeout=60) == 4
    finally:
        session.close()
    end = read_ndjson(tmp_path / "out.ndjson")[-1]["end"]
    assert end["reason"] == "aborted"
    assert end["has_more"] is True

    again = subprocess.run(
        [*CLI.split(), *sync_args(slow_fake, "b.db").split()[3:], "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
    verified = subprocess.run(
        [
            *CLI.split(),
            "verify",
            "--api-key",
            "sk_test_tty",
            "--base-url",
            slow_fake.url,
            "--to",
            "sqlite:///b.db",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_terminal_stdout_gets_no_ndjson_unless_asked(slow_fake, tmp_path):
    session = TmuxSession(f"{sync_args(slow_fake, 'c.db')} --streams products", tmp_path)
    try:
        assert session.exit_code(timeout=120) == 0
        screen = session.wait_for("streams: 1 complete")
        assert '{"type"' not in screen
    finally:
        session.close()
    session = TmuxSession(
        f"{sync_args(slow_fake, 'd.db')} --streams products --ndjson --no-progress", tmp_path
    )
    try:
        assert session.exit_code(timeout=120) == 0
        assert '{"type":"end"' in session.wait_for('"type":"end"').replace("\n", "")
    finally:
        session.close()


def test_plain_and_redirected_stderr_carry_no_ansi_codes(slow_fake, tmp_path):
    for extra in ([], ["--plain"]):
        done = subprocess.run(
            [
                *sync_args(slow_fake, f"plain{len(extra)}.db").split(),
                "--streams",
                "products",
                *extra,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        assert not ANSI.search(done.stderr)
        assert "products: complete" in done.stderr


def test_invalid_key_is_one_clear_line_and_exit_2(tmp_path):
    with fake_stripe({"customers": 5}, api_keys=["sk_test_right"]) as fake:
        done = subprocess.run(
            [
                *CLI.split(),
                "sync",
                "--api-key",
                "sk_test_wrong",
                "--base-url",
                fake.url,
                "--to",
                "sqlite:///k.db",
                "--no-progress",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2  # a refused key is a configuration error
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stripe-sync: error")]
    assert len(errors) == 1
    assert "API key" in errors[0]


def test_unknown_destination_scheme_is_exit_2(tmp_path):
    done = subprocess.run(
        [*CLI.split(), "sync", "--api-key", "sk_test_x", "--to", "mysql://db/x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0


def test_demo_completes_from_an_empty_directory_and_answers_its_queries(tmp_path):
    done = subprocess.run(
        [*CLI.split(), "demo", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Charges per month" in done.stderr
    metrics = done.stderr.split("Monthly recurring revenue and its movements:")[1].splitlines()
    assert metrics[1].strip().startswith("stripe-sync metrics --to sqlite:///stripe-demo.db")
    assert metrics[2].split()[:3] == ["month", "cur", "MRR"]
    assert {line.split()[1] for line in metrics[3:] if line.strip()} == {"eur", "usd"}
    with sqlite3.connect(tmp_path / "stripe-demo.db") as connection:
        months = connection.execute(
            "SELECT substr(created_at, 1, 7), count(*) FROM charges GROUP BY 1"
        ).fetchall()
    assert sum(count for _, count in months) == 15000
    first_answer = done.stderr.split("Charges per month:")[1].splitlines()[2]
    assert first_answer.split(" | ")[0].strip() == max(month for month, _ in months)


def test_the_platform_demo_shows_accounts_on_the_terminal(tmp_path):
    session = TmuxSession(f"{CLI} demo --connected-accounts 6 > out.ndjson", tmp_path)
    try:
        running = session.wait_for("acct_", timeout=60)
        assert "started" in running or "complete" in running
        assert session.exit_code(timeout=240) == 0
        final = session.wait_for("accounts: 6 complete")
        assert "Charges per connected account" in final
    finally:
        session.close()
    end = read_ndjson(tmp_path / "out.ndjson")[-1]["end"]
    accounts = end["run_progress"]["accounts"]
    assert len(accounts) == 6 and {a["status"] for a in accounts.values()} == {"complete"}
    with sqlite3.connect(tmp_path / "stripe-demo.db") as connection:
        per_account = dict(
            connection.execute("SELECT _account_id, count(*) FROM charges GROUP BY 1").fetchall()
        )
    assert set(per_account) == set(accounts)
    largest = DEMO_OBJECTS["charges"] // PLATFORM_SHARE  # account i holds 1/(i+1) of it
    assert sorted(per_account.values(), reverse=True) == [round(largest / i) for i in range(1, 7)]
