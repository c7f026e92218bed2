"""What one pipeline's teardown removes from a destination database, and what it keeps.

Several pipelines may share a database (a SQLite file, a Postgres schema), each with its own row
in ``_sync_state``. A pipeline's teardown removes its own state row; a table of its catalog
(one with our bookkeeping columns) is dropped, with its ``_sync_deleted`` rows, only when no other
pipeline's saved state names that stream, and never with ``keep_tables``. Once no state and no
stream table is left, the bookkeeping tables go too (and, in Postgres, the schema when empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stripe_sync.destinations.database import Database, Statement
from stripe_sync.destinations.layout import (
    BOOKKEEPING_COLUMNS,
    DELETED_TABLE,
    RESERVED_TABLES,
    STATE_TABLE,
    TableLayout,
)


async def tear_down(
    db: Database, layouts: Sequence[TableLayout], pipeline: str, keep_tables: bool
) -> TeardownReport:
    """Remove ``pipeline``'s state and the tables of ``layouts`` no other pipeline uses."""
    report = TeardownReport(pipeline)
    tables = await db.tables()
    states = await db.saved_states() if STATE_TABLE in tables else {}
    others = {name: streams_of_state(state) for name, state in states.items() if name != pipeline}
    statements: list[Statement] = []
    if pipeline in states:
        report.state_removed = True
        statements.append((db.statements.delete_state(), {"pipeline": pipeline}))
    for layout in layouts:
        if not _ours(tables.get(layout.table)):
            continue
        users = sorted(name for name, streams in others.items() if layout.table in streams)
        if keep_tables:
            report.kept_on_request.append(layout.table)
        elif users:
            report.kept[layout.table] = users
        else:
            report.dropped.append(layout.table)
            statements.append(db.statements.drop_table(layout.table))
            if DELETED_TABLE in tables:
                statements.append((db.statements.forget_deleted(), {"stream": layout.table}))
    left = [
        name
        for name, columns in tables.items()
        if name not in RESERVED_TABLES and name not in report.dropped and _ours(columns)
    ]
    nothing_left = not others and not left
    if nothing_left:
        statements += [db.statements.drop_table(name) for name in sorted(RESERVED_TABLES)]
    await db.execute(statements)
    if nothing_left:
        await db.drop_schema_if_empty()
    return report


def _ours(columns: Mapping[str, str] | None) -> bool:
    """A table created by stripe-sync (it has the bookkeeping columns)."""
    return columns is not None and set(BOOKKEEPING_COLUMNS) <= set(columns)


def streams_of_state(state: Any) -> set[str]:
    """The stream names a saved SyncState refers to (keys ``<account>/<stream>`` give the stream)."""
    if not isinstance(state, Mapping):
        return set()
    keys: list[str] = []
    source = state.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("streams"), Mapping):
        keys += source["streams"]
    engine = state.get("engine")
    if isinstance(engine, Mapping):
        for section in ("streams", "terminal_streams"):
            if isinstance(engine.get(section), Mapping):
                keys += engine[section]
        accounts = engine.get("accounts")
        if isinstance(accounts, Mapping) and isinstance(accounts.get("started"), list):
            keys += [key for key in accounts["started"] if isinstance(key, str)]
    return {key.rpartition("/")[2] for key in keys if isinstance(key, str)}


@dataclass
class TeardownReport:
    """What a pipeline's teardown did: its state removed, tables dropped, tables kept and why."""

    pipeline: str
    state_removed: bool = False
    dropped: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)  # table → pipelines using it
    kept_on_request: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line saying what was removed and what was kept."""
        parts = [
            f"removed the state of pipeline {self.pipeline!r}"
            if self.state_removed
            else f"no state stored for pipeline {self.pipeline!r}"
        ]
        if self.dropped:
            parts.append(f"dropped {_names(self.dropped)}")
        for table, users in sorted(self.kept.items()):
            parts.append(f"kept {table} (used by {_names(repr(u) for u in users)})")
        if self.kept_on_request:
            parts.append(f"kept {_names(self.kept_on_request)} (keep_tables)")
        return "teardown: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "state_removed": self.state_removed,
            "dropped": self.dropped,
            "kept": self.kept,
            "kept_on_request": self.kept_on_request,
        }


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)
