"""``__dpone__state`` and ``__dpone__loads`` of a SQL sink: the SQL implementation of the state and audit ports.

The tables are created outside load transactions (idempotently); the audit row and the state row
are written by :meth:`SqlBookkeeping.record` inside the finalize transaction, with the data. A SQL
sink without transactions (ClickHouse) uses the same tables but writes them after its publish step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from dpone_core.model import TableRef, TargetSchema
from dpone_core.state.tables import LOAD_COLUMNS, LOADS_SCHEMA, LOADS_TABLE, STATE_SCHEMA, STATE_TABLE
from dpone_core.strategies.dialect import SqlDialect


class SqlSession(Protocol):
    """What the bookkeeping needs of a SQL sink's connection."""

    dialect: SqlDialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the affected row count."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; return its rows."""
        ...

    def catalog(self, table: TableRef) -> TargetSchema | None:
        """Describe ``table`` or None when absent."""
        ...


class SqlBookkeeping:
    """State store and audit log in two tables of the sink's database (``meta_schema`` or the default)."""

    def __init__(self, sql: SqlSession, meta_schema: str | None) -> None:
        self.sql, self.meta_schema = sql, meta_schema
        self._ready = False

    def _load_columns(self) -> str:
        return self.sql.dialect.column_list(LOAD_COLUMNS)

    def table(self, name: str) -> TableRef:
        """``name`` in the bookkeeping schema."""
        return TableRef(self.meta_schema, name)

    def ensure_tables(self) -> None:
        """Create the state and audit tables when missing (idempotent, outside load transactions)."""
        if self._ready:
            return
        if self.meta_schema:
            self.sql.execute(f"CREATE SCHEMA IF NOT EXISTS {self.sql.dialect.quote(self.meta_schema)}")
        for name, schema in ((STATE_TABLE, STATE_SCHEMA), (LOADS_TABLE, LOADS_SCHEMA)):
            self.sql.execute(self.sql.dialect.create_table_sql(self.table(name), schema, if_not_exists=True))
        self._ready = True

    def exists(self) -> bool:
        """The tables exist (created by this sink, or found in the catalog)."""
        return self._ready or self.sql.catalog(self.table(STATE_TABLE)) is not None

    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state of ``process``."""
        if not self.exists():
            return None
        ph = self.sql.dialect.placeholder
        rows = self.sql.query(
            f"SELECT cursor_column, cursor_value, state_json, run_id, load_id, updated_at "
            f"FROM {self.sql.dialect.table(self.table(STATE_TABLE))} WHERE process = {ph}",
            (process,),
        )
        if not rows:
            return None
        column, value, extra, run_id, load_id, updated = rows[0]
        state = {
            "cursor_column": column,
            "cursor_value": value,
            "run_id": run_id,
            "load_id": load_id,
            "updated_at": _iso(updated),
        }
        if extra:
            state["extra"] = json.loads(extra)
        return state

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """Audit row of a committed load of ``process`` with ``run_id``."""
        if not self.exists():
            return None
        ph = self.sql.dialect.placeholder
        rows = self.sql.query(
            f"SELECT {self._load_columns()} FROM {self.sql.dialect.table(self.table(LOADS_TABLE))} "
            f"WHERE process = {ph} AND run_id = {ph} AND status = 'committed' ORDER BY finished_at DESC",
            (process, run_id),
        )
        return dict(zip(LOAD_COLUMNS, rows[0], strict=True)) if rows else None

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit rows, newest first, optionally for one process and after ``since``."""
        if not self.exists():
            return []
        ph = self.sql.dialect.placeholder
        where: list[str] = ["status = 'committed'"]
        params: list[Any] = []
        if process is not None:
            where.append(f"process = {ph}")
            params.append(process)
        if since is not None:
            where.append(f"finished_at > {ph}")
            params.append(since)
        rows = self.sql.query(
            f"SELECT {self._load_columns()} FROM {self.sql.dialect.table(self.table(LOADS_TABLE))} "
            f"WHERE {' AND '.join(where)} ORDER BY finished_at DESC",
            params,
        )
        return [dict(zip(LOAD_COLUMNS, row, strict=True)) for row in rows]

    def record(self, process: str, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Insert the audit row and upsert the state row (inside the caller's transaction)."""
        d = self.sql.dialect
        ph = d.placeholder
        loads = d.table(self.table(LOADS_TABLE))
        self.sql.execute(
            f"INSERT INTO {loads} ({d.column_list(LOAD_COLUMNS)}) VALUES ({', '.join([ph] * len(LOAD_COLUMNS))})",
            [audit.get(c) for c in LOAD_COLUMNS],
        )
        if state is None:
            return
        table = d.table(self.table(STATE_TABLE))
        self.sql.execute(f"DELETE FROM {table} WHERE process = {ph}", (process,))
        self.sql.execute(
            f"INSERT INTO {table} (process, cursor_column, cursor_value, state_json, run_id, load_id, updated_at) "
            f"VALUES ({', '.join([ph] * 7)})",
            (
                process,
                state.get("cursor_column"),
                state.get("cursor_value"),
                json.dumps(state["extra"]) if state.get("extra") else None,
                state["run_id"],
                state["load_id"],
                datetime.now(UTC),
            ),
        )


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
