"""DuckDB source: a table or a parameterised query streamed as Arrow batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dpone_core.connectors.duckdb.connection import connect
from dpone_core.connectors.duckdb.profile import DuckDBProfile, database_path
from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.sql.params import bind_named
from dpone_core.errors import TerminalError
from dpone_core.model import ReadRequest, TableRef, iter_batches
from dpone_core.spi.ports import SourceBase, SqlAccess


class DuckDBSource(SourceBase):
    """Reads from a DuckDB file (opened read-only, or through a cursor of the sink's connection to it)."""

    dialect = DuckDBDialect()

    def __init__(
        self,
        profile: DuckDBProfile,
        base_dir: Path,
        *,
        table: TableRef | None,
        query: str | None,
        params: dict[str, Any],
        con: Any = None,
    ) -> None:
        super().__init__()
        self.path = database_path(profile, base_dir)
        self.table, self.query, self.params = table, query, params
        # The sink's file is already open in this process: read through a cursor of it (its own
        # connection to the same database), so the open result does not block the sink's
        # statements while a direct load streams it into the target.
        self.con = con.cursor() if con is not None else connect(profile, base_dir, read_only=True)

    def describe(self) -> str:
        """``duckdb:<file>/<table or query>``."""
        return f"duckdb:{self.path.name}/{self.table.display() if self.table else 'query'}"

    def database_identity(self) -> str:
        """The database file."""
        return f"duckdb://{self.path}"

    def lineage_name(self) -> tuple[str, str]:
        """Namespace and name for lineage."""
        return f"duckdb://{self.path}", self.table.display() if self.table else "query"

    def sql(self, request: ReadRequest) -> tuple[str, dict[str, Any]]:
        """The SELECT this source runs, with named parameters (never string-built values)."""
        d = self.dialect
        cols = d.column_list(list(request.columns)) if request.columns else "*"
        params: dict[str, Any] = {}
        if self.table is not None:
            base = f"SELECT {cols} FROM {d.table(self.table)}"
        else:
            assert self.query is not None
            inner, used = bind_named(self.query, lambda name: f"$p_{name}", self.params)
            params.update({f"p_{name}": self.params[name] for name in used})
            base = f"SELECT {cols} FROM ({inner.strip().rstrip(';')}) AS dpone_q"
        where = []
        for index, predicate in enumerate(request.predicates):
            where.append(f"{d.quote(predicate.column)} {predicate.op.replace('==', '=')} $w{index}")
            params[f"w{index}"] = predicate.value
        return base + (f" WHERE {' AND '.join(where)}" if where else ""), params

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Stream the result in batches of at most ``batch_rows`` rows."""
        sql, params = self.sql(request)
        try:
            reader = self.con.sql(sql, params=params or None).to_arrow_reader(request.batch_rows)
        except duckdb.Error as exc:
            raise self._read_error(exc) from None
        return pa.RecordBatchReader.from_batches(reader.schema, self._guarded(reader))

    def _guarded(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        """The batches, with an error the query meets while it streams (a bad cast) as one line."""
        try:
            yield from iter_batches(reader)
        except (duckdb.Error, pa.ArrowException) as exc:
            raise self._read_error(exc) from None

    def _read_error(self, exc: Exception) -> TerminalError:
        """A table or query the database refuses, as one line naming what to fix."""
        first = " ".join(str(exc).split("\n")[0].split())
        what, fix = (
            (f"table {self.table.display()}", "fix source.table (schema.table) or create the table")
            if self.table is not None
            else ("the source query", "fix source.query: one SELECT, with :name parameters given in source.params")
        )
        return TerminalError(f"{self.describe()}: cannot read {what}: {first}", step="extract", fix=fix)

    def reconcile_access(self) -> SqlAccess | None:
        """A table source by SQL on this source's cursor (a query source reads as Arrow)."""
        if self.table is None:
            return None
        return SqlAccess("duckdb", self._query_named, self.table.schema, self.table.name)

    def _query_named(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return list(self.con.execute(sql, dict(params)).fetchall())
        except duckdb.Error as exc:
            raise TerminalError(f"reconciling {self.describe()}: {exc}", step="reconcile") from None

    def close(self) -> None:
        """Close this source's connection (a cursor of a shared file leaves the sink's open)."""
        self.con.close()
