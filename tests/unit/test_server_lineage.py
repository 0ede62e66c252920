"""OpenLineage names of tables on database servers (Postgres, SQL Server), named without connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpone_core.connections.registry import connector, parse_profile
from dpone_core.model import TableRef
from dpone_core.spi import DatasetRequest


@pytest.mark.parametrize(
    ("profile", "table", "namespace", "name"),
    [
        (
            {"type": "postgres", "host": "db", "database": "shop", "password": "${env:NOPE}"},
            TableRef(None, "orders"),
            "postgres://db:5432",
            "shop.public.orders",
        ),
        (
            {"type": "mssql", "host": "${env:DPONE_TEST_LINEAGE_HOST}", "port": 1444, "database": "erp"},
            TableRef("sales", "Order Items"),
            "sqlserver://sql.internal:1444",
            "erp.sales.Order Items",
        ),
        ({"type": "mssql", "host": "sql", "database": "erp"}, None, "sqlserver://sql:1433", "erp.dbo.query"),
    ],
)
def test_server_tables_are_named_by_host_port_and_database(
    profile: dict[str, object], table: TableRef | None, namespace: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPONE_TEST_LINEAGE_HOST", "sql.internal")
    parsed = parse_profile(profile)
    spec = connector(parsed.type)
    assert spec.lineage is not None
    dataset = spec.lineage(DatasetRequest(parsed, Path("."), table=table))
    assert (dataset.namespace, dataset.name) == (namespace, name)
