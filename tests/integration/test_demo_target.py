"""`demo --to` writes only into a database it created or marked; anything else is refused and
left exactly as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from stripe_sync.cli.demo_database import MARKER_TABLE, claim_demo_database
from stripe_sync.protocol.errors import ConfigError

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


def demo(to: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "demo", "--no-progress", "--to", to],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def with_password(url: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")


def test_an_existing_sqlite_database_is_refused_and_left_unchanged(tmp_path):
    mine = tmp_path / "mine.db"
    with sqlite3.connect(mine) as connection:
        connection.execute("CREATE TABLE customers (id TEXT)")
        connection.execute("INSERT INTO customers VALUES ('cus_real')")
    connection.close()
    before = mine.read_bytes()
    done = demo(f"sqlite:///{mine}", tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"stripe-sync: demo --to sqlite:///{mine}: an existing file")
    assert "only writes into a database it created" in line
    assert mine.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.db"]


def test_a_file_that_is_not_a_database_is_refused_and_left_unchanged(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    done = demo(f"sqlite:///{notes}", tmp_path)
    assert done.returncode == 2
    assert "an existing file" in done.stderr
    assert notes.read_text() == "my notes\n"


def test_a_demo_file_is_marked_and_may_be_started_over(tmp_path):
    path = tmp_path / "demo.db"
    assert claim_demo_database(f"sqlite:///{path}") == path
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id TEXT)")
    connection.close()
    assert claim_demo_database(f"sqlite:///{path}") == path  # marked: started over
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    connection.close()
    assert tables == [MARKER_TABLE]


@pytest.mark.postgres
def test_an_existing_postgres_schema_is_refused_without_showing_the_password(
    postgres_db_url, tmp_path
):
    with psycopg.connect(postgres_db_url, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA stripe")
        connection.execute("CREATE TABLE stripe.customers (id text)")
        connection.execute("INSERT INTO stripe.customers VALUES ('cus_real')")
    url = with_password(postgres_db_url, "pg-s3cret")  # trust auth ignores the password
    done = demo(url, tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "an existing schema 'stripe'" in line
    assert "pg-s3cret" not in line and "postgres:***@" in line
    with psycopg.connect(postgres_db_url) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stripe'"
        ).fetchall()
        rows = connection.execute("SELECT id FROM stripe.customers").fetchall()
    assert tables == [("customers",)] and rows == [("cus_real",)]


@pytest.mark.postgres
def test_a_new_postgres_schema_is_created_marked_and_claimed_again(postgres_db_url):
    claim_demo_database(postgres_db_url)
    claim_demo_database(postgres_db_url)  # marked by the first claim
    with psycopg.connect(postgres_db_url) as connection:
        (note,) = connection.execute(f"SELECT note FROM stripe.{MARKER_TABLE}").fetchone()
    assert "stripe-sync demo" in note
    with pytest.raises(ConfigError, match="does not exist"):
        claim_demo_database(postgres_db_url.replace("/test_", "/postgres_missing_"))
