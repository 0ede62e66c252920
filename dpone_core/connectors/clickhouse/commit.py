"""The finalize of a ClickHouse sink: lease, build beside the target, journal, publish, journal.

Order of one commit, and what a reader of the target sees at each step:

1. take the process's lease (``lease.py``); check no other run committed since this run read its state;
2. ``apply_strategy``: create ``new_<process>__<load>`` and fill it with the new version (or, for
   append/incremental, only count what will be inserted) — the target is untouched;
3. write the ``publishing`` journal row (audit, state, the publish plan);
4. publish (``publish.py``): one EXCHANGE / RENAME / REPLACE PARTITION per partition / chunked
   token-guarded INSERT — readers see the new version from here;
5. write the ``committed`` row: the state advances; drop the old version and the staging.

A kill between 3 and 5 leaves a ``publishing`` row: the next run of the process finishes that
publish (``recovery.py``) before it reads its state, so no window is loaded twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.clickhouse.bookkeeping import COMMITTED, PUBLISHING, JournalEntry
from dpone_core.connectors.clickhouse.lease import holder_id
from dpone_core.connectors.clickhouse.publish import build, publish, table_identity
from dpone_core.connectors.clickhouse.rebuild import Rebuild, Step
from dpone_core.connectors.clickhouse.sql import (
    DEDUP_WINDOW,
    column_list,
    quote,
    replicated,
    same_expression,
    table,
)
from dpone_core.errors import ConcurrentRunError, ConfigurationError, DponeError
from dpone_core.model import SEQ_COLUMN, StrategyCounts, TableRef, TargetSchema
from dpone_core.strategies.plan import LoadPlan

if TYPE_CHECKING:
    from dpone_core.connectors.clickhouse.sink import ClickHouseSink

INSERT_STRATEGIES = frozenset({"append", "incremental"})
ATOMIC_ENGINES = frozenset({"Atomic", "Replicated", "Shared"})
"""Database engines with ``EXCHANGE TABLES`` (an Ordinary or a chDB Overlay database has not)."""


@contextmanager
def committing(sink: ClickHouseSink, process: str, load_id: str) -> Iterator[ClickHouseCommit]:
    """Hold the lease around the session; publish on clean exit, drop what was built on failure."""
    sink.bookkeeping.ensure_table()
    atomic_database(sink, str(sink.table.schema), step="finalize")
    holder = holder_id(load_id)
    epoch = sink.lease.acquire(process, holder, sink.options.lease_seconds, sink.options.lease_wait_seconds)
    session = ClickHouseCommit(sink, process, load_id)
    try:
        session.seq = _check_unchanged(sink, process) + 1
        yield session
        session.publish()
    except BaseException:
        session.abandon()
        raise
    finally:
        # A failed release must not hide the load's own error; the lease then expires.
        with contextlib.suppress(DponeError):
            sink.lease.release(process, holder, epoch)


def atomic_database(sink: ClickHouseSink, database: str, *, step: str) -> None:
    """Create ``database`` as Atomic when missing; refuse one whose engine cannot EXCHANGE TABLES."""
    engine = sink.presence.ensure_database(database, step=step)
    if engine not in ATOMIC_ENGINES:
        raise ConfigurationError(
            f"database {database} has engine {engine}, where tables cannot be swapped atomically",
            step=step,
            fix="load into an Atomic database (the connection's database, or db.table in sink.table); "
            "dpone creates a missing one as Atomic",
        )


def _check_unchanged(sink: ClickHouseSink, process: str) -> int:
    """Under the lease: refuse when another load committed since this run read its state; the highest
    load number so far (only lease holders write the journal, so it holds until the publish)."""
    head = sink.bookkeeping.head(process)
    if process in sink.observed and head.last_committed != sink.observed[process]:
        raise ConcurrentRunError(
            f"process {process} is already running elsewhere: load {head.last_committed} committed while this run was "
            "loading, so this run's read is stale; nothing was published",
            step="finalize",
            fix="run again: the next run starts from the new state",
        )
    return head.max_seq


class ClickHouseCommit:
    """One finalize session: what to publish, built before the audit row is recorded."""

    def __init__(self, sink: ClickHouseSink, process: str, load_id: str) -> None:
        self.sink, self.process, self.load_id = sink, process, load_id
        self.plan: dict[str, Any] = {"kind": "none"}
        self.audit: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.journalled = False
        self.staging: TableRef | None = None
        self.seq = 0
        """The load's number in its process's journal (set under the lease)."""

    def apply_ddl(self, statements: list[str]) -> None:
        """Nothing yet: the DDL goes into the built table (or runs at the publish of an append)."""

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Build the new version (or plan the inserts) and count what the load changes."""
        sink = self.sink
        # The runtime names the target as the manifest does; the sink knows its database.
        plan = dataclasses.replace(plan, target=sink.table)
        self.staging = plan.staging
        current = sink.target_schema()
        desired = sink.desired or current or _staged_schema(sink, plan)
        built = TableRef(sink.staging_database, sink.staging_name("new", self.process, self.load_id))
        columns = tuple(c.name for c in desired.columns)
        rebuild = Rebuild(plan, built, columns)
        uuid, engine = table_identity(sink.client, plan.target)
        base: dict[str, Any] = {
            "load_id": self.load_id, "target": [plan.target.schema, plan.target.name],
            "built": [built.schema, built.name], "staging": [plan.staging.schema, plan.staging.name],
            "target_uuid": uuid,
        }  # fmt: skip
        if current is not None and plan.strategy in INSERT_STRATEGIES:
            return self._plan_insert(plan, current, desired, base)
        if plan.strategy == "full_refresh" and plan.staging.name in sink.adopted:
            return self._adopt_staging(plan, current, base, engine or sink.options.engine)
        if current is None:
            steps = [Step(sink.evolve(built, None, desired)[0]), *rebuild.fill(target_exists=False)]
            kind = "rename"
        else:
            kind = "partitions" if self._replaces_partitions(plan, current, desired) else "swap"
            create = [Step(f"CREATE TABLE {table(built)} AS {table(plan.target)}")]
            create += [Step(s) for s in sink.evolve(built, current, desired)]
            fill = [rebuild.staged_rows()] if kind == "partitions" else rebuild.fill(target_exists=True)
            steps = [*create, *fill]
        self.plan = {**base, "kind": kind, "build": [s.as_json() for s in steps]}
        build(sink.client, self.plan)
        sink.built = built
        sink.built_scope = "the new content of the replaced partitions" if kind == "partitions" else None
        sql, params = rebuild.counts(current is not None)
        inserted, updated, deleted = sink.client.rows(sql, params, what="counting the load's changes")[0]
        return StrategyCounts(inserted=int(inserted), updated=int(updated), deleted=int(deleted))

    def _adopt_staging(
        self, plan: LoadPlan, current: TargetSchema | None, base: dict[str, Any], engine: str
    ) -> StrategyCounts:
        """full_refresh staged in the target's layout: drop the sequence column, and the staging is the new version.

        On a table of one server the column leaves the table's metadata at once and its files are
        removed from the parts by a background mutation, so the statement does not wait for it (it
        did: about 0.6 s at 5M rows). A replicated table waits as before: its metadata changes
        through Keeper, and the swap must not publish a replica that still has the column.
        """
        sink, staging = self.sink, plan.staging
        background = "" if replicated(engine) else " SETTINGS alter_sync = 0, mutations_sync = 0"
        drop = Step(f"ALTER TABLE {table(staging)} DROP COLUMN IF EXISTS {quote(SEQ_COLUMN)}{background}")
        self.plan = {
            **base, "kind": "rename" if current is None else "swap", "adopted": True,
            "built": [staging.schema, staging.name], "build": [drop.as_json()],
        }  # fmt: skip
        build(sink.client, self.plan)
        sink.built, sink.built_scope = staging, None
        old = "0" if current is None else f"(SELECT count() FROM {table(plan.target)})"
        inserted, deleted = sink.client.rows(f"SELECT (SELECT count() FROM {table(staging)}), {old}")[0]
        return StrategyCounts(inserted=int(inserted), deleted=int(deleted))

    def _replaces_partitions(self, plan: LoadPlan, current: TargetSchema, desired: TargetSchema) -> bool:
        """REPLACE PARTITION fits: the target is partitioned by the load's slices and needs no DDL."""
        if (
            plan.strategy != "partition_replace"
            or plan.partition is None
            or self.sink.evolve(plan.target, current, desired)
        ):
            return False
        from dpone_core.connectors.clickhouse.sql import partition_expression

        key = self.sink.client.rows(
            "SELECT partition_key FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": plan.target.schema, "n": plan.target.name},
        )
        expected = partition_expression(plan.partition.column, plan.partition.grain)
        return bool(key) and same_expression(str(key[0][0]), expected)

    def _plan_insert(
        self, plan: LoadPlan, current: TargetSchema, desired: TargetSchema, base: dict[str, Any]
    ) -> StrategyCounts:
        sink = self.sink
        ddl = sink.evolve(plan.target, current, desired) + self._dedup_window(plan.target)
        where = None
        if plan.strategy == "incremental" and plan.primary_key:
            keys = column_list(plan.primary_key)
            where = f"({column_list(plan.primary_key, 'dpone_s')}) NOT IN (SELECT {keys} FROM {table(plan.target)})"
        staging, seq = table(plan.staging), quote(SEQ_COLUMN)
        inserting = f"countIf({where})" if where else "count()"
        sql = f"SELECT {inserting}, max({seq}), count() FROM {staging} AS dpone_s"
        counted, highest, staged = sink.client.rows(sql, settings_free(), what="counting the load")[0]
        size = sink.options.publish_chunk_rows
        chunks = (int(highest) // size + 1) if int(staged) else 0
        insert = {"columns": list(plan.target_columns), "where": where, "chunk_rows": size, "chunks": chunks}
        self.plan = {**base, "kind": "insert", "ddl": ddl, "insert": insert}
        sink.built, sink.built_scope = plan.staging, "the load's staged rows, which the publish inserts"
        return StrategyCounts(inserted=int(counted))

    def _dedup_window(self, target: TableRef) -> list[str]:
        """A plain MergeTree target without a deduplication window gets one: the publish's retry needs it."""
        rows = self.sink.client.rows(
            "SELECT engine, engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": target.schema, "n": target.name},
        )
        engine, full = (str(rows[0][0]), str(rows[0][1])) if rows else ("", "")
        if replicated(engine) or "non_replicated_deduplication_window" in full:
            return []
        return [f"ALTER TABLE {table(target)} MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW}"]

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Keep the audit row and state: they are journalled with the publish."""
        self.audit, self.state = audit, state

    def publish(self) -> None:
        """Journal the intent, publish, journal the commit, then drop the old version and the built table."""
        sink = self.sink
        assert self.audit is not None, "record() must run before the commit"
        assert self.seq, "the load number is read under the lease"
        entry = JournalEntry(self.process, self.load_id, self.seq, self.audit, self.state, self.plan)
        sink.bookkeeping.write(entry, PUBLISHING)
        self.journalled = True
        if self.staging is not None:
            sink.kept.add(self.staging.name)
        checkpoint("journalled")  # crash tests: the intent is written, nothing is visible yet
        sink.built = None
        publish(sink.client, self.plan)
        checkpoint("published")  # crash tests: readers see the load, the state has not advanced
        sink.bookkeeping.write(entry, COMMITTED)
        if self.staging is not None:
            sink.kept.discard(self.staging.name)
        self._drop_built()

    def abandon(self) -> None:
        """After a failure: drop the built table unless a journalled publish still needs it."""
        self.sink.built = None
        if not self.journalled:
            self._drop_built()

    def _drop_built(self) -> None:
        built = self.plan.get("built")
        if built and self.plan["kind"] in ("swap", "partitions", "rename"):
            try:
                self.sink.client.command(f"DROP TABLE IF EXISTS {table(TableRef(built[0], built[1]))}")
            except Exception:  # noqa: BLE001 - best effort: the next run's clean-up drops leftovers
                return
            if self.plan.get("adopted"):
                self.sink.dropped.add(str(built[1]))  # the staging itself: drop_staging need not drop it again


def settings_free() -> dict[str, Any]:
    """No parameters (the statement is built from quoted identifiers only)."""
    return {}


def _staged_schema(sink: ClickHouseSink, plan: LoadPlan) -> TargetSchema:
    staged = sink.catalog(plan.staging)
    assert staged is not None
    return TargetSchema(tuple(c for c in staged.columns if c.name != SEQ_COLUMN), plan.primary_key)
