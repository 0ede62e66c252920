"""What a ClickHouse sink needs to exist, found by one query and kept for the run.

A load needs its target, staging and meta databases (Atomic, for ``EXCHANGE TABLES``) and dpone's
journal and lease tables. Asking for each with its own ``CREATE ... IF NOT EXISTS`` or
``system.*`` query cost a round trip apiece on every load; :class:`Presence` asks once, the first
time any of them is needed. What it found present stays present for the run (dpone drops none of
these). What it found missing is created with ``IF NOT EXISTS``, which is also right when another
run created it meanwhile; a database created here is looked up again for its engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.sql import quote

PRESENCE_SQL = (
    "SELECT 'database', name, engine FROM system.databases WHERE has({dbs:Array(String)}, name) "
    "UNION ALL SELECT 'table', name, '' FROM system.tables "
    "WHERE database = {meta:String} AND has({tables:Array(String)}, name)"
)


class Presence:
    """Engines of the sink's databases and which of dpone's tables exist in its meta database."""

    def __init__(
        self, client: ClickHouseClient, databases: Sequence[str], meta_database: str, tables: Sequence[str]
    ) -> None:
        self.client, self.meta_database = client, meta_database
        self.databases, self.tables = tuple(dict.fromkeys(databases)), tuple(tables)
        self._engines: dict[str, str] | None = None
        self._present: set[str] = set()

    def _load(self) -> dict[str, str]:
        if self._engines is None:
            rows = self.client.rows(
                PRESENCE_SQL,
                {"dbs": list(self.databases), "meta": self.meta_database, "tables": list(self.tables)},
                what="looking up dpone's databases and tables",
            )
            self._engines = {str(name): str(engine) for kind, name, engine in rows if kind == "database"}
            self._present = {str(name) for kind, name, _ in rows if kind == "table"}
        return self._engines

    def engine(self, database: str) -> str:
        """The database's engine ('' when it does not exist)."""
        engines = self._load()
        if database not in engines:
            rows = self.client.rows("SELECT engine FROM system.databases WHERE name = {d:String}", {"d": database})
            if not rows:
                return ""
            engines[database] = str(rows[0][0])
        return engines[database]

    def ensure_database(self, database: str, *, step: str) -> str:
        """Create ``database`` as Atomic when missing; its engine."""
        engine = self.engine(database)
        if engine:
            return engine
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {quote(database)} ENGINE = Atomic", step=step)
        return self.engine(database)

    def has_table(self, name: str) -> bool:
        """One of dpone's tables exists in the meta database (or was created by this run)."""
        self._load()
        return name in self._present

    def add_table(self, name: str) -> None:
        """This run created one of dpone's tables."""
        self._load()
        self._present.add(name)
