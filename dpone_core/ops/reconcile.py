"""``dpone ops reconcile``: open a process's source and sink as reconcile sides, compare, report.

A table in Postgres, DuckDB or ClickHouse becomes a :class:`SqlSide` on a connection of its own
(Postgres: one REPEATABLE READ, READ ONLY transaction, so every segment query sees one snapshot;
fetched rows stream through a server-side cursor). Anything else (files, S3, a query source, a
file or Delta table sink) is streamed as Arrow through its connector (:class:`ArrowSide`).
The report is ``reconciliation_report.json`` + ``.md`` (:func:`write_report`); the repair is
:mod:`dpone_core.ops.reconcile_repair`'s. No connection string or secret reaches the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import Predicate, ReadRequest, TableRef, iter_batches
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report
from dpone_core.reconcile import (
    ArrowSide,
    QueryFn,
    ReconcileOptions,
    ReconcileResult,
    ReconcileSide,
    SqlFilter,
    SqlSide,
    reconcile,
    reconcile_rows,
)

STEM = "reconciliation_report"
SQL_CONNECTORS = ("postgres", "duckdb", "clickhouse")


def load_rows(text: str, option: str) -> list[dict[str, Any]]:
    """Rows given inline as a JSON array of objects, or ``@path`` to a file holding one."""
    raw = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{option}: cannot read {path}: {exc.strerror}", step="reconcile") from None
    try:
        rows = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{option} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            step="reconcile",
            fix=f"give {option} '[{{\"id\": 1, ...}}]' or {option} @rows.json",
        ) from None
    if not isinstance(rows, list):
        raise ConfigurationError(f"{option} must be a JSON array of objects", step="reconcile")
    return rows


def reconcile_json(
    source_text: str,
    target_text: str,
    key: Sequence[str],
    columns: Sequence[str] | None,
    delete_column: str | None,
    options: ReconcileOptions,
) -> ReconcileResult:
    """The JSON-rows form: two lists of objects compared in memory."""
    source, target = load_rows(source_text, "--source-rows-json"), load_rows(target_text, "--target-rows-json")
    return reconcile_rows(source, target, key, columns, delete_column=delete_column, options=options)


@dataclass(frozen=True)
class Scope:
    """What to compare of a process: key, columns, delete marker, an SQL filter both sides apply."""

    key: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    delete_column: str | None = None
    where: str | None = None


def reconcile_process(
    loaded: LoadedManifest, process: Process, scope: Scope, options: ReconcileOptions
) -> ReconcileResult:
    """Compare the process's source and sink tables (key default: the sink's primary key)."""
    key = scope.key or tuple(process.sink.primary_key)
    if not key:
        raise ConfigurationError(
            f"process {process.name} has no sink.primary_key", step="reconcile", fix="give --key (e.g. --key id)"
        )
    with process_sides(loaded, process, scope.where) as (source, target):
        return reconcile(source, target, key, scope.columns, delete_column=scope.delete_column, options=options)


@contextmanager
def process_sides(
    loaded: LoadedManifest, process: Process, where: str | None = None
) -> Iterator[tuple[ReconcileSide, ReconcileSide]]:
    """The process's source and sink as reconcile sides, closed on exit."""
    from dpone_core.connectors.endpoints import sink_table, source_table

    with ExitStack() as stack:
        source_ref = source_table(process)
        source: ReconcileSide
        if source_ref is not None and _type(loaded, process.source.connection) in SQL_CONNECTORS:
            source = _sql_side(stack, loaded, process.source.connection, source_ref, where, "source")
        else:
            source = _streamed_source(stack, loaded, process, where)
        target: ReconcileSide
        if _type(loaded, process.sink.connection) in SQL_CONNECTORS:
            target = _sql_side(stack, loaded, process.sink.connection, sink_table(process), where, "target")
        else:
            target = _streamed_sink(stack, loaded, process, where)
        yield source, target


def _type(loaded: LoadedManifest, connection: str) -> str:
    return str(loaded.manifest.connections[connection].type)


def _sql_side(
    stack: ExitStack, loaded: LoadedManifest, connection: str, table: TableRef, where: str | None, role: str
) -> SqlSide:
    profile = loaded.manifest.connections[connection]
    kind = str(profile.type)
    query = stack.enter_context(_query_function(kind, profile, loaded.base_dir))
    name = f"{role} {kind}:{connection}/{table.display()}"
    return SqlSide(query, kind, table.schema, table.name, window=SqlFilter(where) if where else None, name=name)


@contextmanager
def _query_function(kind: str, profile: Any, base_dir: Path) -> Iterator[QueryFn]:
    """A query function on a connection of its own (see the module docstring), closed on exit."""
    if kind == "postgres":
        with _postgres_query(profile, base_dir) as query:
            yield query
    elif kind == "duckdb":
        from dpone_core.connectors.duckdb.connection import connect as duck_connect

        con = duck_connect(profile, base_dir, read_only=True)
        try:
            yield lambda sql, params: _duck_rows(con, sql, params)
        finally:
            con.close()
    else:
        from dpone_core.connectors.clickhouse.client import open_client

        client = open_client(profile, base_dir, use_database=True)
        try:
            yield lambda sql, params: client.rows(sql, params, step="reconcile", what="reconcile query")
        finally:
            client.close()


def _duck_rows(con: Any, sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    import duckdb

    try:
        cursor = con.execute(sql, dict(params) or None)
        while chunk := cursor.fetchmany(10_000):
            yield from chunk
    except duckdb.Error as exc:
        raise ConfigurationError(
            f"DuckDB refused a reconcile query: {str(exc).splitlines()[0]}", step="reconcile"
        ) from None


@contextmanager
def _postgres_query(profile: Any, base_dir: Path) -> Iterator[QueryFn]:
    from dpone_core.connectors.postgres.connection import connect, connection_params, translate

    con = connect(connection_params(profile, base_dir, "dpone/reconcile"))
    # One snapshot for every query of the comparison, and nothing this connection could write.
    con.autocommit = False
    con.set_session(isolation_level="REPEATABLE READ", readonly=True)
    counter = iter(range(1 << 62))

    def query(sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        # Row fetches (ORDER BY) stream through a server-side cursor; the grouped segment queries
        # return few rows, and Postgres plans no parallel workers for a cursor.
        name = f"dpone_rc_{next(counter)}" if " ORDER BY " in sql else None
        try:
            with con.cursor(name=name) as cur:
                cur.itersize = 10_000
                cur.execute(sql, dict(params))
                yield from cur
        except Exception as exc:  # noqa: BLE001 - every driver error becomes one line
            raise translate(exc, "reconcile", "reconcile query") from None

    try:
        yield query
    finally:
        con.rollback()
        con.close()


def _streamed_source(stack: ExitStack, loaded: LoadedManifest, process: Process, where: str | None) -> ArrowSide:
    from dpone_core.connectors.endpoints import open_source

    _no_where(where, "source")
    source = open_source(loaded.manifest, process, loaded.base_dir)
    stack.callback(source.close)
    first = (process.sink.primary_key or [""])[0]

    def read(columns: Sequence[str], low: int | None, high: int | None) -> Iterator[pa.RecordBatch]:
        predicates = [Predicate(first, ">=", low)] if low is not None else []
        predicates += [Predicate(first, "<", high)] if high is not None else []
        yield from iter_batches(source.read(ReadRequest(columns=tuple(columns), predicates=tuple(predicates))))

    probe = source.read(ReadRequest())
    schema = probe.schema
    probe.close()
    return ArrowSide(read, schema, f"source {process.source.connection}/{source.describe()}")


def _streamed_sink(stack: ExitStack, loaded: LoadedManifest, process: Process, where: str | None) -> ArrowSide:
    from dpone_core.connectors.endpoints import open_sink

    _no_where(where, "sink")
    sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    stack.callback(sink.close)
    # A table of files is read as its committed version (the sink's own reader).
    table = sink.read_target()

    def read(columns: Sequence[str], low: int | None, high: int | None) -> Iterator[pa.RecordBatch]:
        yield from table.select(list(columns)).to_batches(max_chunksize=65_536)

    return ArrowSide(read, table.schema, f"target {process.sink.connection}/{sink.describe()}")


def _no_where(where: str | None, role: str) -> None:
    if where:
        raise ConfigurationError(
            f"--where is SQL, and the {role} of this process is not an SQL table", step="reconcile", fix="drop --where"
        )


def build_report(result: ReconcileResult, inputs: dict[str, Any], max_listed: int) -> OpsReport:
    """The ``reconciliation`` report: the result's counts, checksums and listed actions."""
    payload = {**result.to_dict(max_listed), "inputs": inputs}
    return OpsReport("reconciliation", payload, result.blockers())


def markdown(report: OpsReport) -> str:
    """The Markdown summary of a reconciliation report."""
    p = report.payload
    lines = [
        f"# Reconciliation: {'GREEN' if report.passed else 'RED'}",
        "",
        f"Source `{p['source']}` against target `{p['target']}`, key `{', '.join(p['key'])}`, mode {p['mode']}.",
        "",
        *markdown_table(
            ("signal", "value"),
            [
                (name, p[name])
                for name in (
                    "source_rows",
                    "target_rows",
                    "missing_count",
                    "extra_count",
                    "mismatch_count",
                    "delete_count",
                    "source_checksum",
                    "target_checksum",
                    "repair_action_count",
                )
            ],
        ),
        "",
        f"Compared columns: {', '.join(p['compare_columns']) or '(key only)'}.",
    ]
    if p["repair_actions"]:
        rows = [(a["action"], a["reason"], json.dumps(a["key"]), ", ".join(a["columns"])) for a in p["repair_actions"]]
        lines += ["", f"## Repair actions ({p['repair_actions_listed']} of {p['repair_action_count']})", ""]
        lines += markdown_table(("action", "reason", "key", "columns"), rows)
    lines += ["", "## Blockers", "", *([f"* {b}" for b in report.blockers] or ["none"])]
    return "\n".join(lines) + "\n"


def write(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``reconciliation_report.json`` and ``.md`` in ``output_dir``."""
    return write_report(report, output_dir, STEM, markdown(report))
