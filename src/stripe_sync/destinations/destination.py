"""The connector face of a database destination: spec, check, setup, write, teardown, state store.

``DatabaseDestination`` implements the protocol once; SQLite and Postgres subclass it with how to
open a connection (``connect``) and how to build their ``_sync_state`` store (``state_store``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from stripe_sync.destinations.config import DestinationConfig, parse_config
from stripe_sync.destinations.database import Database, prepare_tables
from stripe_sync.destinations.errors import DestinationError
from stripe_sync.destinations.layout import TableLayout, layout_for_stream
from stripe_sync.destinations.teardown import tear_down
from stripe_sync.destinations.writer import BatchWriter, error_message
from stripe_sync.engine.state_commit import StateCommit
from stripe_sync.engine.state_store import StateStore
from stripe_sync.protocol.batching import Batch, singletons
from stripe_sync.protocol.connector import Config, Message


class DatabaseDestination(ABC):
    """A destination that keeps one typed table per stream in a database."""

    config_model = DestinationConfig

    @abstractmethod
    async def connect(self, config: DestinationConfig) -> Database:
        """Open a connection; failures are DestinationErrors (auth, unreachable, bad path)."""

    @abstractmethod
    def state_store(self, config: Config) -> StateStore:
        """The ``_sync_state`` store in this destination's database."""

    def spec(self) -> dict[str, Any]:
        return {"config": DestinationConfig.model_json_schema(by_alias=True)}

    async def check(self, config: Config) -> dict[str, Any]:
        settings = parse_config(config)
        try:
            db = await self.connect(settings)
            try:
                await db.check_writable()
            finally:
                await db.close()
        except DestinationError as exc:
            return {"status": "failed", "message": str(exc)}
        return {"status": "succeeded", "message": "connected; tables can be created and written"}

    async def setup(self, config: Config, catalog: dict[str, Any]) -> None:
        """Create the schema, bookkeeping tables and every stream's table (idempotent)."""
        settings = parse_config(config)
        layouts = _layouts(catalog)
        db = await self.connect(settings)
        try:
            await db.prepare_schema()
            await prepare_tables(db, layouts)
        finally:
            await db.close()

    async def teardown(
        self,
        config: Config,
        catalog: dict[str, Any],
        pipeline: str = "default",
        keep_tables: bool = False,
    ) -> dict[str, Any]:
        """Remove ``pipeline``'s state, and the catalog's tables that no other pipeline's state
        uses (see ``destinations/teardown.py``); return what was dropped and what was kept."""
        settings = parse_config(config)
        layouts = _layouts(catalog)
        db = await self.connect(settings)
        try:
            report = await tear_down(db, layouts, pipeline, keep_tables)
        finally:
            await db.close()
        return {**report.as_dict(), "summary": report.summary()}

    def write(
        self, config: Config, catalog: dict[str, Any], messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        return self.write_batches(config, catalog, singletons(messages))

    def saves_state_with_data(self, config: Config, store: object) -> bool:
        """True when ``store`` is this destination's own ``_sync_state``: given a ``StateCommit``,
        ``write_batches`` then saves the SyncState in the transactions that commit the data."""
        location = getattr(store, "location", None)
        own: Any = self.state_store(config)
        return location is not None and bool(location == own.location)

    async def write_batches(
        self,
        config: Config,
        catalog: dict[str, Any],
        batches: AsyncIterator[Batch],
        state_commit: StateCommit | None = None,
    ) -> AsyncIterator[Message]:
        """``write`` over batches of messages (what the engine hands an in-process destination)."""
        settings = parse_config(config)
        try:
            db = await self.connect(settings)
        except DestinationError as exc:
            yield error_message(exc)
            return
        try:
            try:
                await db.prepare_schema()
            except DestinationError as exc:
                yield error_message(exc)
                return
            writer = BatchWriter(db, catalog, settings, state_commit=state_commit)
            async for message in writer.run(batches):
                yield message
        finally:
            await db.close()


def _layouts(catalog: dict[str, Any]) -> list[TableLayout]:
    return [layout_for_stream(stream) for stream in catalog.get("streams") or []]
