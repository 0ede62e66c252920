"""A Postgres -> Postgres run through the command line imports only what it uses.

A run whose id already committed ends after one audit query: it must not import the gates,
pyarrow.compute or the ADBC driver (a quarter of a second before this was pinned). A real load
imports ADBC and the gates, and still no pandas, rich or DuckDB.
"""

from __future__ import annotations

import json

import pytest

from tests.imported_modules import cli_modules
from tests.integration.postgres.conftest import PgDatabase

pytestmark = pytest.mark.integration


def _process() -> dict[str, object]:
    return {
        "name": "orders",
        "source": {"connection": "pg", "table": "public.src"},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh"},
        "schema_contract": {"columns": {"id": {"type": "int64", "nullable": False}}},
    }


def test_a_load_and_a_committed_run_id_import_only_what_they_use(pg: PgDatabase) -> None:
    pytest.importorskip("pandas")
    pg.sql("CREATE TABLE public.src AS SELECT g AS id, 'x' || g AS name FROM generate_series(1, 500) g")
    manifest = pg.manifest([_process()])
    args = ["run", str(manifest), "--run-id", "r1", "--format", "json"]

    load = cli_modules(args, pg.folder)
    assert load.returncode == 0, load.stdout[-2000:]
    assert json.loads(load.stdout)["result"]["inserted_rows"] == 500
    assert {"psycopg2", "adbc_driver_manager", "dpone_core.gates.contract"} <= load.heavy
    assert not load.heavy & {"pandas", "polars", "rich", "duckdb", "sqlalchemy", "boto3", "deltalake"}, load.heavy

    again = cli_modules(args, pg.folder)
    assert again.returncode == 0, again.stdout[-2000:]
    assert json.loads(again.stdout)["status"] == "skipped"
    assert pg.loads("orders") == 1
    no_load = {"pandas", "rich", "duckdb", "adbc_driver_manager", "pyarrow.dataset", "pyarrow.compute"}
    assert not again.heavy & (no_load | {"dpone_core.gates.contract"}), again.heavy
