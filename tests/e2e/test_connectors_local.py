"""Local connectors end to end: JSON lines and Parquet sources, a DuckDB source, the Parquet directory sink."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import dpone_core
from tests.e2e.conftest import query, run_cli, run_json


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_jsonl_and_parquet_sources(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"id": 1, "v": "x"}\n{"id": 2, "v": "y, \\"quoted\\"\\nline"}\n')
    pq.write_table(pa.table({"id": [3, 4], "v": ["é", None]}), tmp_path / "in" / "b.parquet")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          inbox: {type: files, root: in}
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: j
            source: {connection: inbox, path: "*.jsonl", format: jsonl}
            sink: {connection: wh, table: t, strategy: append}
          - name: p
            source: {connection: inbox, path: "*.parquet", format: parquet}
            sink: {connection: wh, table: t, strategy: append}
    """,
    )
    assert run_json(manifest, "--selector", "j")["result"]["inserted_rows"] == 2
    assert run_json(manifest, "--selector", "p")["result"]["inserted_rows"] == 2
    assert query(tmp_path / "wh.duckdb", "SELECT id, v FROM t ORDER BY id") == [
        (1, "x"),
        (2, 'y, "quoted"\nline'),
        (3, "é"),
        (4, None),
    ]


def test_duckdb_source_table_and_parameterised_query(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "src.duckdb")) as con:
        con.execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id, range % 3 AS kind FROM range(10)"
        )
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          src: {type: duckdb, path: src.duckdb}
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: all_orders
            source: {connection: src, table: shop.orders, columns: [id]}
            sink: {connection: wh, table: copy, strategy: full_refresh}
          - name: some_orders
            source:
              connection: src
              query: "SELECT id, kind FROM shop.orders WHERE kind = :kind AND id::VARCHAR <> ':kind'"
              params: {kind: 1}
            sink: {connection: wh, table: some, strategy: merge, primary_key: [id]}
    """,
    )
    assert run_json(manifest, "-s", "all_orders")["result"]["inserted_rows"] == 10
    assert run_json(manifest, "-s", "some_orders")["result"]["inserted_rows"] == 3
    wh = tmp_path / "wh.duckdb"
    assert query(wh, "SELECT count(*), min(id), max(id) FROM copy") == [(10, 0, 9)]
    assert query(wh, 'SELECT id FROM "some" ORDER BY id') == [(1,), (4,), (7,)]


@pytest.mark.parametrize("strategy", ["merge", "full_refresh", "append"])
def test_a_duckdb_source_in_the_sinks_own_file(tmp_path: Path, strategy: str) -> None:
    # The source streams while the sink's transaction writes the same file (a direct first load).
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("CREATE SCHEMA analytics; CREATE TABLE analytics.orders AS SELECT range AS id FROM range(50000)")
    key = ", primary_key: [id]" if strategy != "append" else ""
    manifest = write(
        tmp_path / "m.yaml",
        f"""
        version: 1
        connections:
          wh: {{type: duckdb, path: wh.duckdb}}
        processes:
          - name: copy
            source: {{connection: wh, table: analytics.orders, batch_rows: 1000}}
            sink: {{connection: wh, table: analytics.orders_copy, strategy: {strategy}{key}}}
          - name: some
            source: {{connection: wh, query: "SELECT id FROM analytics.orders WHERE id < :n", params: {{n: 10}}}}
            sink: {{connection: wh, table: analytics.some, strategy: {strategy}{key}}}
    """,
    )
    for _ in range(2):  # the first load creates the table, the second loads into it
        for process in ("copy", "some"):
            report = dpone_core.run(manifest, process)
            assert report.passed, report.to_text()
    expected = 50000 if strategy != "append" else 100000
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM analytics.orders_copy") == [(expected,)]
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM analytics.some") == [(expected // 5000,)]


def test_parquet_table_append_refresh_and_state(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    data = tmp_path / "in" / "data.csv"
    data.write_text("id,ts\n1,2026-01-01T00:00:00Z\n2,2026-01-02T00:00:00Z\n")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          inbox: {type: files, root: in}
          lake: {type: files, root: lake}
        processes:
          - name: events
            source: {connection: inbox, path: data.csv, format: csv, incremental: {cursor: ts}}
            sink: {connection: lake, table: raw.events, format: parquet, strategy: append}
            schema_contract: {columns: {ts: {type: timestamp, tz: UTC}}}
    """,
    )
    assert run_json(manifest)["result"]["inserted_rows"] == 2
    data.write_text("id,ts\n1,2026-01-01T00:00:00Z\n2,2026-01-02T00:00:00Z\n3,2026-01-03T00:00:00Z\n")
    assert run_json(manifest)["result"]["inserted_rows"] == 1
    files = dpone_core.api.committed_files(manifest, "events")
    assert len(files) == 2 and all(f.startswith(str(tmp_path / "lake" / "raw" / "events" / "data")) for f in files)
    table = ds.dataset(files, format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    state = dpone_core.api.states(manifest)["events"] or {}
    assert "2026-01-03T00:00:00" in state["cursor_value"]
    assert len(dpone_core.api.loads(manifest)) == 2
    commits = sorted((tmp_path / "lake" / "raw" / "events" / "_dpone" / "commits").iterdir())
    assert len(commits) == 2 and json.loads(commits[0].read_text())["seq"] == 2  # the newest sorts first
    # full_refresh replaces the files in one commit; the replaced ones stay for the grace period.
    manifest.write_text(
        manifest.read_text()
        .replace("strategy: append", "strategy: full_refresh")
        .replace(", incremental: {cursor: ts}", "")
    )
    result = run_json(manifest)["result"]
    assert (result["inserted_rows"], result["deleted_rows"]) == (3, 3)
    assert ds.dataset(dpone_core.api.committed_files(manifest, "events"), format="parquet").count_rows() == 3
    assert len(list((tmp_path / "lake" / "raw" / "events" / "data").glob("*/*.parquet"))) == 3


def test_a_folder_in_the_older_layout_carries_its_rows_and_cursor_over(tmp_path: Path) -> None:
    """Parquet folders written before commit objects: files in the folder, state under _dpone/state."""
    lake = tmp_path / "lake"
    (lake / "t").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2]}), lake / "t" / "part-L1-0000.parquet")
    cursor = json.dumps({"kind": "int", "value": 2})
    state = {"cursor_column": "id", "cursor_value": cursor, "run_id": "r1", "load_id": "L1"}
    (lake / "_dpone" / "state").mkdir(parents=True)
    (lake / "_dpone" / "state" / "p.json").write_text(json.dumps(state))
    (lake / "_dpone" / "loads").mkdir()
    audit = {"load_id": "L1", "run_id": "r1", "process": "p", "finished_at": "2026-01-01T00:00:00+00:00"}
    (lake / "_dpone" / "loads" / "L1.json").write_text(json.dumps(audit))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text("id\n1\n2\n3\n")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          inbox: {type: files, root: in}
          lake: {type: files, root: lake}
        processes:
          - name: p
            source: {connection: inbox, path: d.csv, format: csv, incremental: {cursor: id}}
            sink: {connection: lake, table: t, format: parquet, strategy: append}
    """,
    )
    assert dpone_core.run(manifest, run_id="r1").status == "skipped"  # its old run id is known
    assert run_json(manifest)["result"]["inserted_rows"] == 1  # only id 3: the cursor carried over
    assert sorted(dpone_core.api.read_target(manifest, "p").column("id").to_pylist()) == [1, 2, 3]


def test_dry_run_and_registry_through_the_cli(tmp_path: Path, quickstart: Path) -> None:
    registry = write(tmp_path / "registry.yaml", "defaults:\n  retry: {attempts: 3, backoff_seconds: 0}\n")
    report = run_json(quickstart, "--dry-run", "--registry", str(registry))
    assert report["status"] == "planned" and report["max_attempts"] == 4
    assert report["result"]["ddl"][0].startswith('CREATE TABLE "analytics"."orders"')
    assert not (quickstart.parent / ".dpone" / "warehouse.duckdb").exists()
    render = run_cli("manifest", "render", str(quickstart), "--all", "--registry", str(registry))
    assert "attempts: 3" in render.stdout


def test_python_api_matches_the_cli(quickstart: Path) -> None:
    report = dpone_core.run(quickstart)
    assert report.passed and report.result.inserted_rows == 3835 and report.exit_code == 0
    again = dpone_core.run(quickstart, run_id=report.run_id)
    assert again.status == "skipped" and again.passed


def test_column_names_snake_case(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("OrderID,Customer Name,createdAt\n1,Ann,2026-01-01T00:00:00Z\n")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          inbox: {type: files, root: in}
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: p
            source: {connection: inbox, path: data.csv, format: csv, column_names: snake,
                     incremental: {cursor: created_at}}
            sink: {connection: wh, table: t, strategy: merge, primary_key: [order_id]}
            schema_contract: {columns: {created_at: {type: timestamp, tz: UTC}}}
    """,
    )
    assert run_json(manifest)["result"]["inserted_rows"] == 1
    columns = query(tmp_path / "wh.duckdb", "SELECT column_name FROM information_schema.columns WHERE table_name='t'")
    assert [c for (c,) in columns] == ["order_id", "customer_name", "created_at"]
    # The cursor filter works on the normalised name: a second run reads nothing new.
    assert run_json(manifest)["result"]["extracted_rows"] == 0
    # The API override: lower case keeps the space.
    manifest.write_text(
        manifest.read_text()
        .replace("table: t,", "table: t2,")
        .replace("primary_key: [order_id]", "primary_key: [orderid]")
        .replace("{cursor: created_at}", "{cursor: createdat}")
        .replace("created_at: {type", "createdat: {type")
    )
    report = dpone_core.run(manifest, column_name_mode="lower")
    assert report.passed, report.to_text()
    columns = query(tmp_path / "wh.duckdb", "SELECT column_name FROM information_schema.columns WHERE table_name='t2'")
    assert [c for (c,) in columns] == ["orderid", "customer name", "createdat"]


def test_column_names_that_collide_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("Id,ID\n1,2\n")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          inbox: {type: files, root: in}
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: p
            source: {connection: inbox, path: data.csv, format: csv, column_names: lower}
            sink: {connection: wh, table: t}
    """,
    )
    report = run_json(manifest, expect=1)
    assert "all become ['id'] under column_names: lower" in report["result"]["errors"][0]["line"]


def test_query_params_override_and_refusal(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "src.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id FROM range(10)")
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          src: {type: duckdb, path: src.duckdb}
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: q
            source: {connection: src, query: "SELECT id FROM t WHERE id >= :low", params: {low: 0}}
            sink: {connection: wh, table: q, strategy: append}
          - name: plain
            source: {connection: src, table: t}
            sink: {connection: wh, table: plain, strategy: append}
    """,
    )
    # A value that looks like SQL stays a value: it is bound, never pasted into the query.
    assert dpone_core.run(manifest, "q", query_params={"low": 7}).result.inserted_rows == 3
    hostile = dpone_core.run(manifest, "q", query_params={"low": "0; DROP TABLE t"})
    assert not hostile.passed
    assert query(tmp_path / "src.duckdb", "SELECT count(*) FROM t") == [(10,)]
    refused = dpone_core.run(manifest, "plain", query_params={"low": 1})
    assert refused.exit_code == 2 and "query_params apply only to a query source" in refused.result.errors[0].line


def test_sql_quoted_table_names(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute('CREATE SCHEMA "Sales.EU"')
        con.execute('CREATE TABLE "Sales.EU"."Order Items" AS SELECT range AS id FROM range(5)')
    manifest = write(
        tmp_path / "m.yaml",
        """
        version: 1
        connections:
          wh: {type: duckdb, path: wh.duckdb}
        processes:
          - name: copy
            source: {connection: wh, table: '"Sales.EU"."Order Items"'}
            sink: {connection: wh, table: 'main."Items ""copy"" 1"', strategy: merge, primary_key: [id]}
    """,
    )
    report = dpone_core.run(manifest)
    assert report.passed, report.to_text()
    assert query(tmp_path / "wh.duckdb", 'SELECT count(*) FROM main."Items ""copy"" 1"') == [(5,)]


@pytest.mark.parametrize("table", ["analytics.", ".orders", '"unclosed', 'a."b".c', '"a"b'])
def test_malformed_table_names_are_manifest_errors(tmp_path: Path, table: str) -> None:
    manifest = write(
        tmp_path / "m.yaml",
        f"""
        version: 1
        connections:
          wh: {{type: duckdb, path: wh.duckdb}}
        processes:
          - name: copy
            source: {{connection: wh, table: t}}
            sink: {{connection: wh, table: '{table}', strategy: append}}
    """,
    )
    proc = run_cli("run", str(manifest))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "sink" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
