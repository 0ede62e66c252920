"""Query sources name the tables they read: sqlglot per connector dialect, CTEs resolved away."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpone_core.api import load
from dpone_core.lineage import process_datasets
from dpone_core.lineage.query_tables import query_tables
from dpone_core.model import TableRef


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        (
            "with recent as (select * from sales.orders where updated_at > :since) "
            "select r.id, c.name from recent r join customers c on c.id = r.customer_id",
            "postgres",
            [TableRef("sales", "orders"), TableRef(None, "customers")],
        ),
        (
            "select * from (select id from [dbo].[Orders]) o where o.id in (select id from sales.Refunds)",
            "tsql",
            [TableRef("dbo", "Orders"), TableRef("sales", "Refunds")],
        ),
        (
            "select id from shop.events final where ts > {since:DateTime64(3)} union all select id from shop.late",
            "clickhouse",
            [TableRef("shop", "events"), TableRef("shop", "late")],
        ),
        ('select * from "My Schema"."Order Items"', "duckdb", [TableRef("My Schema", "Order Items")]),
    ],
)
def test_tables_a_query_reads(sql: str, dialect: str, expected: list[TableRef]) -> None:
    assert sorted(query_tables(sql, dialect) or [], key=str) == sorted(expected, key=str)


def test_unparseable_or_table_free_sql_gives_none() -> None:
    assert query_tables("select from where (((", "postgres") is None
    assert query_tables("select 1 as one", "postgres") is None


def test_a_postgres_query_source_names_each_table_in_its_database(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        """
version: 1
connections:
  shop: {type: postgres, host: db.internal, port: 5433, database: shop, user: u, password: "${env:NO_SUCH_PW}"}
  out: {type: duckdb, path: out.duckdb}
processes:
  - name: enriched
    source:
      connection: shop
      query: >
        with paid as (select * from sales.orders where status = 'paid')
        select p.id, c.email from paid p join customers c on c.id = p.customer_id
    sink: {connection: out, table: main.enriched, strategy: full_refresh}
""",
        encoding="utf-8",
    )
    loaded = load(manifest)
    datasets = process_datasets(loaded, loaded.manifest.processes[0])
    assert datasets.query_source
    assert sorted((d.namespace, d.name) for d in datasets.inputs) == [
        ("postgres://db.internal:5433", "shop.public.customers"),
        ("postgres://db.internal:5433", "shop.sales.orders"),
    ]
