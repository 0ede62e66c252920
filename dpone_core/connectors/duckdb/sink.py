"""DuckDB sink: staging via DuckDB's Arrow scan, finalize in one DuckDB transaction.

DuckDB allows one writing process per file, so the file lock is the per-process lease: a second
run of any process on the same file fails fast with DPONE_ALREADY_RUNNING (retryable).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.connections.profiles import DuckDBProfile
from dpone_core.connectors.duckdb.connection import connect, database_path
from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.ports import TableRef, TargetColumn, TargetSchema
from dpone_core.connectors.sql.sink import SqlSink


class DuckDBSink(SqlSink):
    """Writes into a table of a DuckDB database file."""

    dialect = DuckDBDialect()

    def __init__(
        self, profile: DuckDBProfile, base_dir: Path, table: TableRef, staging_schema: str, meta_schema: str | None
    ) -> None:
        super().__init__(table, staging_schema, meta_schema)
        self.path = database_path(profile, base_dir)
        self.con = connect(profile, base_dir)

    def describe(self) -> str:
        """``duckdb:<file>/<table>``."""
        return f"duckdb:{self.path.name}/{self.table.display()}"

    def lineage_name(self) -> tuple[str, str]:
        """OpenLineage-style namespace and name."""
        return f"duckdb://{self.path}", self.table.display()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; DuckDB returns the affected row count as a one-row result."""
        result = self.con.execute(sql, list(params))
        try:
            row = result.fetchone()
        except Exception:  # noqa: BLE001 - DDL has no result set
            return -1
        return int(row[0]) if row and isinstance(row[0], int) else -1

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a small query."""
        return list(self.con.execute(sql, list(params)).fetchall())

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Query straight into Arrow."""
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def begin(self) -> None:
        """BEGIN."""
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        """COMMIT."""
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        """ROLLBACK, ignoring 'no transaction is active'."""
        try:
            self.con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            return

    def bulk_stage(self, reader: pa.RecordBatchReader, table: TableRef) -> int:
        """CREATE TABLE AS over the Arrow stream: DuckDB pulls batches as it goes (flat memory)."""
        view = "__dpone_stage_source"
        self.con.register(view, reader)
        try:
            return self.execute(f"CREATE TABLE {self.dialect.table(table)} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def catalog(self, table: TableRef) -> TargetSchema | None:
        """Columns (as Arrow types), NOT NULL and primary key from DuckDB's catalog."""
        schema = table.schema or "main"
        found = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (schema, table.name),
        )
        if not found:
            return None
        arrow = self.query_arrow(f"SELECT * FROM {self.dialect.table(table)} LIMIT 0").schema
        not_null: set[str] = set()
        key: tuple[str, ...] = ()
        for ctype, cols in self.query(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE schema_name = ? AND table_name = ?",
            (schema, table.name),
        ):
            if ctype == "NOT NULL":
                not_null.update(cols)
            elif ctype == "PRIMARY KEY":
                key = tuple(cols)
                not_null.update(cols)
        columns = tuple(TargetColumn(f.name, f.type, f.name not in not_null) for f in arrow)
        return TargetSchema(columns, key)

    def list_tables(self, schema: str) -> list[str]:
        """Tables in ``schema``."""
        return [
            r[0]
            for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (schema,))
        ]

    def acquire_lease(self, process: str) -> None:
        """No-op: the DuckDB file lock already makes this process the only writer."""

    def close(self) -> None:
        """Close the connection (releases the file lock)."""
        self.con.close()
