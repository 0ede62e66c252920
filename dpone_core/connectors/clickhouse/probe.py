"""``dpone doctor --manifest`` for ClickHouse: the server version, the database engine, a rehearsal of a load."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from dpone_core.errors import ConfigurationError, DponeError

MIN_VERSION = (23, 8)
"""Oldest server the sink is written for (insert deduplication tokens on non-replicated tables,
lightweight deletes, ``EXCHANGE TABLES``)."""


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
    rehearse(handle)
    return f"server {version}, database {database} ({engine[0][0] if engine else 'created on first load'}), grants ok"


def rehearse(sink: Any) -> None:
    """Do what a load does, on two empty probe tables: create, insert, alter, exchange, select, drop.

    Reading ``system.grants`` needs a privilege of its own and ClickHouse's grant hierarchy is wide
    (``CREATE`` implies ``CREATE TABLE``...): trying the statements is the check that cannot be wrong.
    """
    from dpone_core.connectors.clickhouse.sql import quote

    client, suffix = sink.client, secrets.token_hex(4)
    names = [f"{quote(str(sink.table.schema))}.{quote('__dpone_probe_' + suffix)}",
             f"{quote(sink.staging_database)}.{quote('__dpone_probe_' + suffix)}"]  # fmt: skip
    try:
        for database in (str(sink.table.schema), sink.staging_database):
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote(database)} ENGINE = Atomic", step="doctor")
        for name in names:
            client.command(f"CREATE TABLE {name} (x UInt8) ENGINE = MergeTree ORDER BY x", step="doctor")
            client.command(f"INSERT INTO {name} VALUES (1)", step="doctor")
            client.command(f"ALTER TABLE {name} ADD COLUMN y Nullable(String)", step="doctor")
        client.command(f"EXCHANGE TABLES {names[0]} AND {names[1]}", step="doctor")
        client.rows(f"SELECT count() FROM {names[0]}", step="doctor")
    except DponeError as exc:
        raise ConfigurationError(
            f"user {client.rows('SELECT currentUser()')[0][0]} cannot do what a load does: {exc.message}",
            step="doctor",
            fix=f"GRANT CREATE, INSERT, SELECT, ALTER, DROP ON {sink.table.schema}.* and on "
            f"{sink.staging_database}.* (and CREATE DATABASE when they do not exist)",
        ) from None
    finally:
        for name in names:
            with contextlib.suppress(DponeError):
                client.command(f"DROP TABLE IF EXISTS {name}", step="doctor")
