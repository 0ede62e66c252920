"""Multi-dimensional arrays fail the read naming the column (the ADBC driver would flatten them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.postgres.conftest import PgDatabase, run_cli, run_ok

pytestmark = pytest.mark.integration


def _manifest(pg: PgDatabase, source: dict[str, str]) -> Path:
    return pg.manifest(
        [
            {
                "name": "p",
                "source": {"connection": "pg", **source, "batch_rows": 1000},
                "sink": {"connection": "pg", "table": "public.dst", "strategy": "merge", "primary_key": ["id"]},
            }
        ]
    )


@pytest.mark.parametrize("column", ["grid", "Odd col"])
def test_a_two_dimensional_array_fails_the_read_naming_the_column(pg: PgDatabase, column: str) -> None:
    pg.sql(f'CREATE DOMAIN grid_t AS int[]; CREATE TABLE src (id int PRIMARY KEY, tags text[], "{column}" grid_t)')
    pg.sql("INSERT INTO src SELECT g, ARRAY['a', 'b'], ARRAY[g, g] FROM generate_series(1, 5000) g")
    manifest = _manifest(pg, {"table": "public.src"})
    run_ok(manifest)
    assert pg.sql(f'SELECT tags, "{column}" FROM dst WHERE id = 7') == [(["a", "b"], [7, 7])]
    state = pg.state("p")
    pg.sql(f"UPDATE src SET \"{column}\" = '{{{{1,2}},{{3,4}}}}', tags = ARRAY['x'] WHERE id = 4000")
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert error["code"] == "DPONE_TERMINAL" and error["step"] == "extract"
    assert f"column {column} holds a multi-dimensional array (array_ndims = 2)" in error["message"]
    assert "query source" in error["fix"]
    assert pg.sql("SELECT count(*) FROM dst WHERE tags = ARRAY['x']") == [(0,)]
    assert pg.state("p") == state and pg.loads("p") == 1
    # The fix the error names: read it as json through a query source.
    fixed = _manifest(pg, {"query": f'SELECT id, tags, to_jsonb("{column}") AS "{column}" FROM src'})
    pg.sql("DROP TABLE dst")
    run_ok(fixed)
    assert pg.sql(f'SELECT "{column}"::text FROM dst WHERE id = 4000') == [("[[1, 2], [3, 4]]",)]


def test_a_query_source_with_a_two_dimensional_array_fails_too(pg: PgDatabase) -> None:
    result = run_cli(_manifest(pg, {"query": "SELECT 1 AS id, ARRAY[[1, 2], [3, 4]] AS m"}), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert "column m holds a multi-dimensional array" in error["message"]
    assert pg.sql("SELECT to_regclass('public.dst')")[0][0] is None
