"""Microsoft SQL Server: the connection profile only (the connector is not built yet)."""

from __future__ import annotations

from typing import Any, Literal

from dpone_core.connections.profile import ConnectionProfile, Reference, Secret
from dpone_core.model import LineageDataset
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, truthy
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest


class MSSQLProfile(ConnectionProfile):
    """A Microsoft SQL Server reached through ODBC."""

    type: Literal["mssql"]
    host: str
    port: int | Reference = 1433
    database: str
    user: str | None = None
    password: Secret | None = None
    driver: str = "ODBC Driver 18 for SQL Server"
    encrypt: bool = True
    trust_server_certificate: bool = False


def _lineage(request: DatasetRequest) -> LineageDataset:
    return request.server_table("sqlserver", "mssql", default_schema="dbo")


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    extra = conn.extra
    profile: dict[str, Any] = {
        "type": "mssql",
        "host": conn.host or "localhost",
        "port": conn.port or 1433,
        "database": conn.schema or "master",
        "user": conn.login,
        "password": secret("password", conn.password),
    }
    if extra.get("driver"):
        profile["driver"] = extra["driver"]
    if "encrypt" in extra:
        profile["encrypt"] = truthy(extra["encrypt"])
    trust = extra.get("trust_server_certificate", extra.get("TrustServerCertificate"))
    if trust is not None:
        profile["trust_server_certificate"] = truthy(trust)
    return profile


SPEC = ConnectorSpec(
    name="mssql",
    profile=MSSQLProfile,
    summary="Microsoft SQL Server (profile only; connector not built yet)",
    extra="mssql",
    requires=("pyodbc",),
    lineage=_lineage,
    sql_dialect="tsql",
    airflow=AirflowMapping(("mssql",), _from_airflow),
)

__all__ = ["SPEC", "MSSQLProfile"]
