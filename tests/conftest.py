"""Fixtures shared by every test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.destinations import Target
from tests.support.postgres import PostgresServer

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The throw-away PostgreSQL cluster, started once for the test session."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of the session cluster's maintenance database (superuser, trust auth)."""
    return postgres_server.url


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh, empty database of its own for one test."""
    return postgres_server.create_database(f"test_{next(_database_numbers)}")


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """An empty destination database: a SQLite file, then a fresh Postgres database."""
    if request.param == "sqlite":
        return Target("sqlite", f"sqlite:///{tmp_path / 'stripe.db'}")
    return Target("postgres", request.getfixturevalue("postgres_db_url"))
