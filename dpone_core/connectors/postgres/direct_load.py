"""Writing a load inside the Postgres finalize transaction: the strategy's statements, or a direct COPY.

A *direct* load hands the gated stream to the finalize transaction instead of staging it first:

* into a table the load creates, the rows are COPYed straight into it after its ``CREATE TABLE``;
* a ``full_refresh`` over an existing target locks it, counts it, TRUNCATEs it and COPYs the rows
  straight into it (the same transaction as audit and state, so a failure keeps the old rows);
* an ``append`` (or an ``incremental`` without a key) COPYs the rows straight into the target.

When the stream's types are not the target's (or the plan needs SQL, as scd2 does), the rows go to
a TEMP table under the staging name and the plan's statements read it like a staging table. A
duplicate key (SQLSTATE 23505) anywhere in a direct load raises :class:`DuplicateKeyError`: the
runtime then reads again through staging, where the contract decides (quarantine or fail).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from dpone_core.connectors.postgres.connection import sqlstate, translate
from dpone_core.connectors.postgres.copy_stream import CopyGuard, staging_arrow_type
from dpone_core.connectors.postgres.relay import BinaryRelay, create_staging, relay_into, require_compatible
from dpone_core.errors import DponeError, DuplicateKeyError
from dpone_core.model import StrategyCounts, TableRef
from dpone_core.spi.ports import RelayRefused
from dpone_core.strategies.dialect import Statement
from dpone_core.strategies.plan import LoadPlan

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.render import PostgresRenderer
    from dpone_core.connectors.postgres.sink import PostgresSink

UNIQUE_INDEX_COLUMNS_SQL = (
    "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey) AS k(attnum) "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = to_regclass(\x00p) AND i.indisunique AND i.indimmediate AND i.indisvalid "
    "AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY i.indexrelid"
)
"""Column sets of the non-partial, non-deferrable, valid unique indexes of a table."""

TRUNCATE_ALLOWED_SQL = (
    "SELECT has_table_privilege(c.oid, 'TRUNCATE') "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid AND f.contype = 'f') "
    "AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal "
    "AND g.tgtype::int & 8 <> 0) FROM pg_class c WHERE c.oid = to_regclass(\x00p)"
)
"""TRUNCATE keeps DELETE's meaning: no foreign key references the table, no user DELETE trigger, privilege held."""


def key_enforced(sink: PostgresSink, table: TableRef, key: Sequence[str]) -> bool:
    """A unique index of ``table`` covers exactly ``key`` (so the table itself rejects duplicate keys)."""
    rows = sink.query(UNIQUE_INDEX_COLUMNS_SQL, (sink.dialect.table(table),))
    return any(sorted(r[0]) == sorted(key) for r in rows)


def truncate_allowed(sink: PostgresSink, table: TableRef) -> bool:
    """TRUNCATE may replace DELETE on ``table`` (see :data:`TRUNCATE_ALLOWED_SQL`)."""
    rows = sink.query(TRUNCATE_ALLOWED_SQL, (sink.dialect.table(table),))
    return bool(rows and rows[0][0])


def appends_only(strategy: str, primary_key: Sequence[str]) -> bool:
    """The strategy only adds the load's rows: ``append``, or ``incremental`` without a key.

    ``incremental`` with a key stays staged: it skips rows the lookback window reads again, which
    a COPY cannot do.
    """
    return strategy == "append" or (strategy == "incremental" and not primary_key)


def direct_load_allowed(sink: PostgresSink, strategy: str, primary_key: Sequence[str]) -> bool:
    """An existing target may take the stream directly.

    That is a full_refresh the target can TRUNCATE, or a load that only adds rows
    (:func:`appends_only`). With a primary key, the target must enforce it (a unique index on
    exactly the key): COPY then rejects a duplicate key, within the load or against the rows
    already there, which sends the run through staging, where the contract handles duplicates
    within the load and the INSERT reports a conflict with existing rows as before.
    """
    refresh = strategy == "full_refresh"
    allowed = truncate_allowed(sink, sink.table) if refresh else appends_only(strategy, primary_key)
    return allowed and (not primary_key or key_enforced(sink, sink.table, primary_key))


def run_statements(sink: PostgresSink, statements: Sequence[Statement]) -> StrategyCounts:
    """Run rendered statements in order; a statement with ``counts`` feeds several counters at once."""
    counts = StrategyCounts()
    for statement in statements:
        if statement.counts:
            row = sink.query(statement.sql, statement.params)[0]
            values = [int(v or 0) for v in row]
            for name, value in zip(statement.counts, values, strict=True):
                setattr(counts, name, getattr(counts, name) + value)
            counts.details[statement.name] = sum(values)
            continue
        affected = max(sink.execute(statement.sql, statement.params), 0)
        counts.details[statement.name] = affected
        if statement.counts_as:
            setattr(counts, statement.counts_as, getattr(counts, statement.counts_as) + affected)
    return counts


def load_stream(
    sink: PostgresSink, plan: LoadPlan, reader: pa.RecordBatchReader, relay: BinaryRelay | None = None
) -> StrategyCounts:
    """Write a registered stream inside the open transaction and return the counts.

    With a relay, the transaction runs on the psycopg2 connection: the rows are relayed or, when
    the plan or the target does not allow it, :class:`RelayRefused` asks for the Arrow stream.
    """
    renderer = sink.strategy_renderer(plan)
    if relay is not None and relay_stages(plan):
        return _relay_through_staging(sink, plan, relay, renderer)
    if not plan.target_empty and plan.primary_key and not key_enforced(sink, plan.target, plan.primary_key):
        # Checked before the run too; a key index dropped since then would let duplicates through.
        raise DuplicateKeyError(
            f"{sink.describe()}: the target no longer has a unique index on {list(plan.primary_key)}",
            step="finalize",
            fix="the run reads again through staging, where duplicates are handled by the contract",
        )
    plain = plan.delete_marker is None and plan.strategy != "scd2"
    direct = plain and (
        plan.target_empty
        or (plan.strategy == "full_refresh" and renderer.truncate)
        or appends_only(plan.strategy, plan.primary_key)
    )
    if relay is not None:
        if not (direct and (plan.target_empty or plan.strategy == "full_refresh")):
            raise RelayRefused("the plan needs its rows in SQL")
        require_compatible(sink, plan.target, relay)  # before the TRUNCATE: a refusal costs nothing
        before = [] if plan.target_empty else [s for s in renderer.render(plan) if s.counts_as != "inserted"]
        counts = run_statements(sink, before)
        rows = relay_into(sink, plan.target, relay)
        counts.inserted = rows
        counts.details["relay_into_target"] = rows
        return counts
    if direct and copy_compatible(sink, plan, reader.schema):
        # full_refresh: lock, exact count and TRUNCATE (the plan's own statements); append: nothing
        # before. Then COPY instead of INSERT ... SELECT: every row is written once.
        before = [] if plan.target_empty else [s for s in renderer.render(plan) if s.counts_as != "inserted"]
        counts = run_statements(sink, before)
        rows = copy_into(sink, CopyGuard(reader, plan.target_columns), plan.target)
        counts.inserted = rows
        counts.details["copy_into_target"] = rows
        return counts
    guard = CopyGuard(reader)
    temp = TableRef("pg_temp", plan.staging.name)
    columns = ", ".join(f"{sink.dialect.quote(f.name)} {sink.dialect.type_sql(f.type)}" for f in guard.schema)
    sink.execute(f"CREATE TEMP TABLE {sink.dialect.quote(temp.name)} ({columns}) ON COMMIT DROP")
    copy_into(sink, guard, temp)
    return run_statements(sink, renderer.render(plan))


def relay_stages(plan: LoadPlan) -> bool:
    """A relayed load whose strategy reads its rows in SQL: a merge into an existing target (with a key).

    Its rows are relayed into a new TEMP table, where the relay's checks see exactly the load's rows.
    """
    return plan.strategy == "merge" and bool(plan.primary_key) and not plan.target_empty and plan.delete_marker is None


def _relay_through_staging(
    sink: PostgresSink, plan: LoadPlan, relay: BinaryRelay, renderer: PostgresRenderer
) -> StrategyCounts:
    """Relay into a TEMP table under the staging name that refuses what the checks look for, then merge from it.

    The plan's statements read the staging name unqualified, which finds the TEMP table first.
    """
    require_compatible(sink, plan.target, relay, checked_in_table=False)
    staging = create_staging(sink, plan.staging.name, relay, plan.primary_key)
    rows = relay_into(sink, staging, relay, staging=True)
    counts = run_statements(sink, renderer.render(plan))
    counts.details["relay_into_staging"] = rows
    return counts


def copy_compatible(sink: PostgresSink, plan: LoadPlan, schema: pa.Schema) -> bool:
    """The target has exactly the plan's columns, each with the stream's Postgres type.

    A column whose own type has no Arrow mapping (``native_type``: an enum, inet, a domain over
    them) never is: binary COPY would hand it the stream's text encoding, which inet rejects.
    """
    target = sink.catalog(plan.target)
    if target is None or {c.name for c in target.columns} != set(plan.target_columns):
        return False
    try:
        return all(
            c.native_type is None
            and sink.dialect.type_sql(c.type) == sink.dialect.type_sql(staging_arrow_type(schema.field(c.name).type))
            for c in target.columns
        )
    except (KeyError, TypeError):
        return False


def copy_into(sink: PostgresSink, guard: CopyGuard, table: TableRef) -> int:
    """Binary COPY of the guarded stream into ``table`` on the transaction's ADBC session."""
    cursor = sink.adbc_session().cursor()
    try:
        rows = cursor.adbc_ingest(table.name, guard.as_reader(), mode="append", db_schema_name=table.schema)
        if guard.error is not None:
            raise guard.error
        return int(rows)
    except BaseException as exc:
        if guard.error is not None:
            raise guard.error from None
        if isinstance(exc, DponeError | KeyboardInterrupt):
            raise
        if sqlstate(exc) == "23505":
            raise duplicate_key(sink) from None
        raise translate(exc, "finalize", f"COPY into {table.display()}") from None
    finally:
        with contextlib.suppress(Exception):
            cursor.close()


def duplicate_key(sink: PostgresSink) -> DuplicateKeyError:
    """The error that sends a direct load back through staging."""
    return DuplicateKeyError(
        f"{sink.describe()}: a unique index of the target rejected a duplicate key of the load",
        step="finalize",
        fix="the run reads again through staging, where duplicates are handled by the contract",
    )
