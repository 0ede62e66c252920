"""ClickHouse: the connection profile only (the connector is not built yet)."""

from __future__ import annotations

from typing import Any, Literal

from dpone_core.connections.profile import ConnectionProfile, Reference, Secret, display_value
from dpone_core.model import LineageDataset, TableRef
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, truthy
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, Maintenance


class ClickHouseProfile(ConnectionProfile):
    """A ClickHouse server reached over HTTP(S)."""

    type: Literal["clickhouse"]
    host: str = "localhost"
    port: int | Reference = 8123
    database: str = "default"
    user: str = "default"
    password: Secret | None = None
    secure: bool = False


def _lineage(request: DatasetRequest) -> LineageDataset:
    profile, base = request.profile, request.base_dir
    table = request.table or TableRef(None, "query")
    database = table.schema or display_value(profile, "database", base)
    host, port = display_value(profile, "host", base), display_value(profile, "port", base)
    return LineageDataset(
        f"clickhouse://{host}:{port}", f"{database}.{table.name}", "clickhouse", database, None, table.name
    )


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    return {
        "type": "clickhouse",
        "host": conn.host or "localhost",
        "port": conn.port or 8123,
        "database": conn.schema or conn.extra.get("database") or "default",
        "user": conn.login or "default",
        "password": secret("password", conn.password),
        "secure": truthy(conn.extra.get("secure", False)),
    }


SPEC = ConnectorSpec(
    name="clickhouse",
    profile=ClickHouseProfile,
    summary="ClickHouse (profile only; connector not built yet)",
    extra="clickhouse",
    requires=("clickhouse_connect",),
    lineage=_lineage,
    airflow=AirflowMapping(("clickhouse",), _from_airflow),
    maintenance=Maintenance(per_table=("OPTIMIZE TABLE {table} FINAL",)),
)

__all__ = ["SPEC", "ClickHouseProfile"]
