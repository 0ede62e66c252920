"""Connection types dpone maps that no Airflow provider registers, so the UI offers their forms.

Postgres, MSSQL, AWS and Kafka Connections come from their own Airflow providers; DuckDB files and
ClickHouse's HTTP interface have none that dpone can rely on, so these hooks give the types a name
and a form. Either way the Connection reaches dpone through :func:`profile_from_connection`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from dpone_provider.hooks.dpone import connection_fields, profile_from_connection


class _MappedConnectionHook(BaseHook):
    """A connection type dpone maps that no Airflow provider registers, so the UI offers its form."""

    conn_name_attr = "conn_id"
    default_conn_name = ""

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def get_conn(self) -> dict[str, Any]:
        """The dpone profile this Connection maps to (secrets stay ``${airflow:...}`` references)."""
        return profile_from_connection(connection_fields(self.get_connection(self.conn_id))).profile


class DuckDBConnectionHook(_MappedConnectionHook):
    """The ``duckdb`` connection type: a DuckDB database file in ``host``, for ``airflow:<conn_id>``."""

    default_conn_name = "duckdb_default"
    conn_type = "duckdb"
    hook_name = "DuckDB (dpone)"


class ClickHouseConnectionHook(_MappedConnectionHook):
    """The ``clickhouse`` connection type (HTTP interface), for ``airflow:<conn_id>``."""

    default_conn_name = "clickhouse_default"
    conn_type = "clickhouse"
    hook_name = "ClickHouse (dpone)"
