"""The journal of a ClickHouse sink: audit rows, state and publish intents in one table.

ClickHouse has no transaction spanning the data and the audit row, so a load is recorded twice:
a ``publishing`` row (the audit, the state and how to publish, written before the publish) and a
``committed`` row (written once the publish is visible). ``__dpone__loads`` is a
``ReplacingMergeTree(version)`` keyed by process and load id, read with ``FINAL``: the committed
row replaces the intent. State is the state of the process's newest committed load. A run that
finds an intent without its commit finishes that publish first (see ``recovery.py``).

Rows are inserted with a deduplication token derived from the load id and status, so a resent
row is dropped, never doubled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from dpone_core.connectors.clickhouse.arrow_body import table_chunk
from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.presence import Presence
from dpone_core.connectors.clickhouse.sql import TableLayout, create_table_sql, quote, table
from dpone_core.model import TableRef, TargetColumn, TargetSchema
from dpone_core.state.tables import LOAD_COLUMNS, LOADS_SCHEMA, LOADS_TABLE

JOURNAL_EXTRA = (
    TargetColumn("seq", pa.uint64(), False),
    TargetColumn("version", pa.uint8(), False),
    TargetColumn("state_json", pa.string()),
    TargetColumn("plan_json", pa.string()),
)
"""Beyond the audit columns every sink keeps: the load's number within its process, the row
version (1 intent, 2 committed), the state committed with the load, and its publish plan."""

JOURNAL_SCHEMA = TargetSchema(LOADS_SCHEMA.columns + JOURNAL_EXTRA)
JOURNAL_LAYOUT = TableLayout("ReplacingMergeTree(version)", ("process", "load_id"))
PUBLISHING, COMMITTED, ABANDONED = "publishing", "committed", "abandoned"
"""Row statuses: the intent, the commit, and an intent given up because it never became visible."""


@dataclass(frozen=True)
class JournalHead:
    """A process's journal as a run reads it, in one query: its newest committed load, the state of
    the newest committed load that carried one, and the highest load number written."""

    last_committed: str | None
    state: dict[str, Any] | None
    max_seq: int


HEAD_SQL = (
    "SELECT countIf(status = 'committed'), argMaxIf(load_id, seq, status = 'committed'), "
    "argMaxIf(state_json, seq, status = 'committed' AND state_json IS NOT NULL), "
    "countIf(status = 'committed' AND state_json IS NOT NULL), max(seq) "
    "FROM {journal} FINAL WHERE process = {{p:String}}"
)


@dataclass
class JournalEntry:
    """One load as the journal holds it."""

    process: str
    load_id: str
    seq: int
    audit: dict[str, Any]
    state: dict[str, Any] | None
    plan: dict[str, Any]


class ClickHouseBookkeeping:
    """Journal reads and writes in ``<meta database>.__dpone__loads``."""

    def __init__(self, client: ClickHouseClient, database: str, presence: Presence | None = None) -> None:
        self.client, self.database = client, database
        self.ref = TableRef(database, LOADS_TABLE)
        self.presence = presence or Presence(client, (database,), database, (LOADS_TABLE,))
        self._ready = False

    def ensure_table(self) -> None:
        """Create the database and the journal when missing."""
        if self.exists():
            return
        self.presence.ensure_database(self.database, step="finalize")
        ddl = create_table_sql(self.ref, JOURNAL_SCHEMA, JOURNAL_LAYOUT).replace(
            "CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1
        )
        self.client.command(ddl, step="finalize", what=f"creating {self.database}.{LOADS_TABLE}")
        self.presence.add_table(LOADS_TABLE)
        self._ready = True

    def exists(self) -> bool:
        """The journal exists (once seen, for the rest of the run: dpone never drops it)."""
        if not self._ready:
            self._ready = self.presence.has_table(LOADS_TABLE)
        return self._ready

    def _select(self, where: str, params: dict[str, object], order: str = "seq DESC") -> list[dict[str, Any]]:
        if not self.exists():
            return []
        columns = ", ".join(quote(c.name) for c in JOURNAL_SCHEMA.columns)
        rows = self.client.rows(
            f"SELECT {columns} FROM {table(self.ref)} FINAL WHERE {where} ORDER BY {order}",
            params,
            what=f"reading {self.database}.{LOADS_TABLE}",
        )
        names = [c.name for c in JOURNAL_SCHEMA.columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def head(self, process: str) -> JournalHead:
        """Newest committed load, its state and the highest load number of ``process``, in one query."""
        if not self.exists():
            return JournalHead(None, None, 0)
        committed, load_id, state, with_state, seq = self.client.rows(
            HEAD_SQL.format(journal=table(self.ref)), {"p": process}, what=f"reading {self.database}.{LOADS_TABLE}"
        )[0]
        last = str(load_id) if committed else None
        return JournalHead(last, json.loads(state) if with_state else None, int(seq or 0))

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of ``run_id``'s committed load."""
        rows = self._select(
            "process = {p:String} AND run_id = {r:String} AND status = 'committed'", {"p": process, "r": run_id}
        )
        return _audit(rows[0]) if rows else None

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit records, newest first."""
        where: list[str] = ["status = 'committed'"]
        params: dict[str, object] = {}
        if process is not None:
            where.append("process = {p:String}")
            params["p"] = process
        if since is not None:
            where.append("finished_at > {since:DateTime64(6, 'UTC')}")
            params["since"] = since.astimezone(UTC).replace(tzinfo=None)
        return [_audit(row) for row in self._select(" AND ".join(where), params, "finished_at DESC")]

    def pending(self, process: str) -> list[JournalEntry]:
        """Loads of ``process`` whose intent was written but whose commit was not (oldest first)."""
        rows = self._select("process = {p:String} AND status = 'publishing'", {"p": process}, "seq ASC")
        return [
            JournalEntry(
                process,
                str(row["load_id"]),
                int(row["seq"]),
                _audit(row),
                json.loads(row["state_json"]) if row["state_json"] else None,
                json.loads(row["plan_json"] or "{}"),
            )
            for row in rows
        ]

    def write(self, entry: JournalEntry, status: str) -> None:
        """Insert ``entry``'s row with ``status`` (a resend of the same row is dropped by its token)."""
        now = datetime.now(UTC)
        audit = {
            **entry.audit,
            "status": status,
            "finished_at": now if status == COMMITTED else entry.audit.get("finished_at") or now,
        }
        row: dict[str, Any] = {c: audit.get(c) for c in LOAD_COLUMNS}
        row.update(
            process=entry.process,
            load_id=entry.load_id,
            seq=entry.seq,
            version=1 if status == PUBLISHING else 2,  # a commit or an abandon replaces the intent
            state_json=None
            if entry.state is None
            else json.dumps({**entry.state, "updated_at": now.isoformat()}, default=str),
            plan_json=json.dumps(entry.plan, sort_keys=True),
        )
        arrow = JOURNAL_SCHEMA.arrow_schema()
        batch = pa.table({f.name: pa.array([_value(row[f.name], f.type)], f.type) for f in arrow}, schema=arrow)
        chunk = table_chunk(batch)
        self.client.insert_stream(
            table(self.ref),
            arrow.names,
            chunk.body(),
            settings={"insert_deduplication_token": f"dpone:{entry.load_id}:{status}"},
            step="finalize",
            what=f"writing the {status} row of load {entry.load_id}",
        )


def _value(value: Any, arrow: pa.DataType) -> Any:
    if pa.types.is_timestamp(arrow) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if pa.types.is_integer(arrow) and value is None:
        return 0
    return value


def _audit(row: dict[str, Any]) -> dict[str, Any]:
    record = {c: row[c] for c in LOAD_COLUMNS}
    for name in ("started_at", "finished_at"):
        value = record.get(name)
        if isinstance(value, datetime) and value.tzinfo is None:
            record[name] = value.replace(tzinfo=UTC)
    return record
