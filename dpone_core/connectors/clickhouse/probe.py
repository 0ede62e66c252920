"""``dpone doctor --manifest`` for ClickHouse: server version, the database engine, and the grants a load uses."""

from __future__ import annotations

from typing import Any

from dpone_core.errors import ConfigurationError

MIN_VERSION = (23, 8)
"""Oldest server the sink is written for (insert deduplication tokens on non-replicated tables,
lightweight deletes, ``EXCHANGE TABLES``)."""

LOAD_GRANTS = ("CREATE TABLE", "INSERT", "SELECT", "DROP TABLE", "ALTER")


def probe(handle: Any) -> str | None:
    """Check what opening does not: the version, an Atomic target database, and the sink's grants."""
    from dpone_core.connectors.clickhouse.sink import ClickHouseSink
    from dpone_core.connectors.clickhouse.source import ClickHouseSource

    if isinstance(handle, ClickHouseSource):
        version = str(handle.client.rows("SELECT version()", step="connect")[0][0])
        return f"server {version}"
    if not isinstance(handle, ClickHouseSink):
        return None
    client = handle.client
    version = str(client.rows("SELECT version()", step="connect")[0][0])
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        raise ConfigurationError(
            f"ClickHouse {version} at {client.where} is older than {'.'.join(map(str, MIN_VERSION))}",
            step="doctor",
            fix="upgrade the server: the sink needs insert deduplication tokens and EXCHANGE TABLES",
        )
    database = handle.table.schema
    engine = client.rows("SELECT engine FROM system.databases WHERE name = {d:String}", {"d": database})
    if engine and str(engine[0][0]) not in ("Atomic", "Replicated", "Shared"):
        raise ConfigurationError(
            f"database {database} has engine {engine[0][0]}: EXCHANGE TABLES needs Atomic",
            step="doctor",
            fix=f"load into an Atomic database (CREATE DATABASE {database}_atomic ENGINE = Atomic)",
        )
    missing = _missing_grants(client)
    if missing:
        raise ConfigurationError(
            f"user {client.rows('SELECT currentUser()')[0][0]} lacks {', '.join(missing)} on {client.where}",
            step="doctor",
            fix=f"GRANT {', '.join(missing)} ON {database}.* and on the staging database to the user",
        )
    return f"server {version}, database {database} ({engine[0][0] if engine else 'created on first load'}), grants ok"


def _missing_grants(client: Any) -> list[str]:
    rows = client.rows("SELECT DISTINCT access_type FROM system.grants WHERE user_name = currentUser()")
    granted = {str(r[0]) for r in rows}
    if not rows or "ALL" in granted:
        return []  # the default user (or a profile with no explicit grants) can do everything
    return [g for g in LOAD_GRANTS if g not in granted]
