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

    def __init__(self, client: ClickHouseClient, database: str) -> None:
        self.client, self.database = client, database
        self.ref = TableRef(database, LOADS_TABLE)
        self._ready = False

    def ensure_table(self) -> None:
        """Create the database and the journal when missing."""
        if self._ready:
            return
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {quote(self.database)} ENGINE = Atomic", step="finalize")
        ddl = create_table_sql(self.ref, JOURNAL_SCHEMA, JOURNAL_LAYOUT).replace(
            "CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1
        )
        self.client.command(ddl, step="finalize", what=f"creating {self.database}.{LOADS_TABLE}")
        self._ready = True

    def exists(self) -> bool:
        """The journal exists."""
        if self._ready:
            return True
        rows = self.client.rows(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {n:String}",
            {"d": self.database, "n": LOADS_TABLE},
        )
        return bool(rows[0][0])

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

    def read_state(self, process: str) -> dict[str, Any] | None:
        """The state of ``process``'s newest committed load that carried one."""
        rows = self._select("process = {p:String} AND status = 'committed' AND state_json IS NOT NULL", {"p": process})
        return json.loads(rows[0]["state_json"]) if rows else None

    def last_committed(self, process: str) -> str | None:
        """The load id of ``process``'s newest committed load."""
        rows = self._select("process = {p:String} AND status = 'committed'", {"p": process})
        return str(rows[0]["load_id"]) if rows else None

    def next_seq(self, process: str) -> int:
        """The number of the next load of ``process`` (under its lease)."""
        if not self.exists():
            return 1
        rows = self.client.rows(f"SELECT max(seq) FROM {table(self.ref)} WHERE process = {{p:String}}", {"p": process})
        return int(rows[0][0] or 0) + 1

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
