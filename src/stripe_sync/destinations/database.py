"""What the write loop needs from a database, and the parts of writing a batch both share.

A ``Database`` is one open connection of a backend (SQLite, Postgres). This module also owns
preparing a stream's table (create it, or evolve it: add missing columns, drop nothing) and
counting what a batch did from the rows the SQL statements return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from stripe_sync.destinations.config import DeleteMode
from stripe_sync.destinations.errors import table_failed
from stripe_sync.destinations.layout import BOOKKEEPING_COLUMNS, Column, TableLayout
from stripe_sync.destinations.sql import Statements

Row = tuple[Any, ...]  # staged row: key values..., version, deleted, data JSON
Statement = str | tuple[str, Mapping[str, Any]]  # SQL, or SQL with its named parameters


@dataclass
class WriteCounts:
    """What one batch did to a table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def record(self, step: Step, result: Any, batch: Batch) -> None:
        """Count what one step did; ``result`` is its RETURNING rows, or its row count."""
        if step.effect == "upsert":
            self._add_returned(result, batch.live)
        elif step.effect == "soft_delete":
            self.add_deleted(sum(1 for _inserted, changed in result if changed), batch.tombstones)
        elif step.effect == "hard_delete":
            self.add_deleted(result, batch.tombstones)

    def _add_returned(self, returned: Iterable[Sequence[Any]], staged: int) -> None:
        inserted = updated = 0
        for was_inserted, changed in returned:
            if was_inserted:
                inserted += 1
            elif changed:
                updated += 1
        self.add_upserted(inserted, updated, staged)

    def add_upserted(self, inserted: int, updated: int, staged: int) -> None:
        """``staged`` live records of which ``inserted`` made new rows, ``updated`` changed rows."""
        self.inserted += inserted
        self.updated += updated
        self.unchanged += staged - inserted - updated

    def add_deleted(self, deleted: int, staged: int) -> None:
        """``staged`` tombstones of which ``deleted`` marked, removed or inserted a deleted row."""
        self.deleted += deleted
        self.unchanged += staged - deleted

    def message(self, stream: str) -> dict[str, Any]:
        payload = {"stream": stream, **self.__dict__}
        return {"type": "write_stats", "write_stats": payload}


@dataclass(frozen=True)
class Batch:
    """Deduplicated rows of one stream, newest version per key."""

    rows: list[Row]
    tombstones: int
    delete_mode: DeleteMode

    @property
    def live(self) -> int:
        return len(self.rows) - self.tombstones


@dataclass(frozen=True)
class SavedState:
    """A pipeline's whole SyncState (as JSON text) to save in ``_sync_state``."""

    pipeline: str
    state: str


Effect = Literal["upsert", "soft_delete", "hard_delete", "remember"]


@dataclass(frozen=True)
class Step:
    """One statement of a batch; ``returns_rows``: fetch its RETURNING rows (else its rowcount)."""

    sql: str
    effect: Effect

    @property
    def returns_rows(self) -> bool:
        return self.effect in ("upsert", "soft_delete")


@dataclass(frozen=True)
class BatchSql:
    """The statements that write a batch of one layout through its staging table."""

    stage: str
    create_stage: str
    upsert: Step
    soft_delete: Step
    hard_delete: Step
    remember: Step

    @classmethod
    def build(cls, statements: Statements, layout: TableLayout, stage: str) -> BatchSql:
        return cls(
            stage=stage,
            create_stage=statements.create_stage(layout, stage),
            upsert=Step(statements.upsert(layout, stage), "upsert"),
            soft_delete=Step(statements.soft_delete(layout, stage), "soft_delete"),
            hard_delete=Step(statements.hard_delete(layout, stage), "hard_delete"),
            remember=Step(statements.remember_deleted(layout, stage), "remember"),
        )

    def steps(self, batch: Batch) -> list[Step]:
        """What to run after staging: live records first, then tombstones."""
        steps = [self.upsert] if batch.live else []
        if batch.tombstones and batch.delete_mode == "soft":
            steps.append(self.soft_delete)
        elif batch.tombstones:
            steps += [self.hard_delete, self.remember]
        return steps


class Database(Protocol):
    """One open connection to a destination database."""

    statements: Statements

    async def table_columns(self, table: str) -> dict[str, str] | None:
        """Column name → declared SQL type, or None when the table does not exist."""
        ...

    async def tables(self) -> dict[str, dict[str, str]]:
        """Every table of the schema: name → (column name → declared SQL type)."""
        ...

    async def execute(self, statements: Sequence[Statement]) -> None:
        """Run statements in one transaction."""
        ...

    async def saved_states(self) -> dict[str, Any]:
        """Every pipeline's SyncState in ``_sync_state`` (which must exist), by pipeline name."""
        ...

    async def write_batch(
        self, layout: TableLayout, batch: Batch, state: SavedState | None = None
    ) -> WriteCounts:
        """Stage and apply a batch in one transaction, saving ``state`` in the same one."""
        ...

    async def save_state(self, state: SavedState) -> None:
        """Save a pipeline's state in a transaction of its own."""
        ...

    async def prepare_schema(self) -> None:
        """Create the schema (where there is one) and the bookkeeping tables, if missing."""
        ...

    async def check_writable(self) -> None:
        """Raise a DestinationError unless tables can be created and written."""
        ...

    async def drop_schema_if_empty(self) -> None: ...

    async def close(self) -> None: ...


async def prepare_tables(db: Database, layouts: Sequence[TableLayout]) -> list[TableLayout]:
    """``prepare_table`` for many streams at once: one read of what exists, one DDL transaction
    (a catalog of a hundred streams is set up in a few round trips, not hundreds)."""
    existing = await db.tables()
    statements: list[str] = []
    prepared: list[TableLayout] = []
    for layout in layouts:
        columns = existing.get(layout.table)
        if columns is None:
            statements.append(db.statements.create_table(layout))
            prepared.append(layout)
            continue
        effective, missing = evolve(layout, columns, db.statements)
        statements += [db.statements.add_column(layout, column) for column in missing]
        prepared.append(effective)
    if statements:
        await db.execute(statements)
    return prepared


async def prepare_table(db: Database, layout: TableLayout) -> TableLayout:
    """Create or evolve the stream's table; return the layout as the table stores it."""
    existing = await db.table_columns(layout.table)
    if existing is None:
        await db.execute([db.statements.create_table(layout)])
        return layout
    effective, missing = evolve(layout, existing, db.statements)
    if missing:
        await db.execute([db.statements.add_column(layout, column) for column in missing])
    return effective


def evolve(
    layout: TableLayout, existing: dict[str, str], statements: Statements
) -> tuple[TableLayout, list[Column]]:
    """Compare a layout with an existing table: (layout to write with, columns to add).

    A table without our key and bookkeeping columns is not ours and is refused. An existing column
    keeps its type (the value is converted to it); one of a type we cannot write is left alone.
    """
    required = [c.name for c in layout.key] + list(BOOKKEEPING_COLUMNS)
    absent = [name for name in required if name not in existing]
    if absent:
        raise table_failed(
            f"table {layout.table!r} exists but was not created by stripe-sync "
            f"(no column {', '.join(absent)})",
            "config_error",
        )
    columns: list[Column] = []
    missing: list[Column] = []
    for column in layout.columns:
        declared = existing.get(column.name)
        if declared is None:
            missing.append(column)
            columns.append(column)
            continue
        kind = statements.dialect.column_kind(declared, column.kind)
        if kind is not None:
            columns.append(Column(column.name, kind, column.field))
    return layout.with_columns(tuple(columns)), missing
