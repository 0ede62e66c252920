"""dpone's Delta tables read by another engine: DuckDB's own Delta reader (``delta_scan``).

DuckDB's delta extension is on the package index only for DuckDB 1.5.5 (dpone runs a newer
DuckDB), so the reader runs in its own interpreter, ``.venv-duckdb-delta`` (scripts/test installs
``duckdb==1.5.5`` with ``duckdb-extension-delta`` and ``duckdb-extension-httpfs`` there; another
interpreter can be named by ``DPONE_TEST_DUCKDB_DELTA_PYTHON``). The tables are written by real
loads, on a local folder and on a moto S3 bucket, after the commits that leave removed files in
the log (a merge's rewrite, a partition swap, a full refresh), and every row and value DuckDB
reads must be the live version dpone reads back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

import dpone_core
from dpone_core.api import read_target
from tests.integration.s3.conftest import Bucket
from tests.integration.s3.motoserver import ACCESS_KEY, SECRET_KEY
from tests.side_tools import side_tool

READER = r"""
import duckdb, json, sys
from pathlib import Path
site = Path(duckdb.__file__).parent.parent
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
for name in ("httpfs", "delta"):
    found = next((site / f"duckdb_extension_{name}").rglob(f"{name}.duckdb_extension"))
    con.execute(f"LOAD '{found}'")
where, endpoint, key = sys.argv[1], sys.argv[2], sys.argv[3]
literal = lambda text: "'" + text.replace("'", "''") + "'"
if endpoint:
    secret = sys.stdin.read().strip()
    con.execute(f"CREATE SECRET lake (TYPE s3, KEY_ID {literal(key)}, SECRET {literal(secret)}, "
                f"ENDPOINT {literal(endpoint)}, URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
rows = con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM delta_scan({literal(where)}) ORDER BY id::BIGINT").fetchall()
print(json.dumps(rows))
"""


def reader_python() -> Path:
    """The interpreter whose DuckDB has the delta extension (a test failure in CI when it is missing)."""
    return side_tool(
        ".venv-duckdb-delta",
        "python",
        override="DPONE_TEST_DUCKDB_DELTA_PYTHON",
        require="DPONE_REQUIRE_DUCKDB_DELTA",
        what="DuckDB with the delta extension",
    )


def delta_scan(where: str, bucket: Bucket | None = None) -> list[list[Any]]:
    """Rows of the Delta table at ``where`` as DuckDB's ``delta_scan`` reads them, ordered by id."""
    endpoint = bucket.server.url.removeprefix("http://") if bucket is not None else ""
    out = subprocess.run(
        [str(reader_python()), "-c", READER, where, endpoint, ACCESS_KEY],
        input=SECRET_KEY if bucket is not None else "",
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def dpone_rows(path: Path, process: str) -> list[list[Any]]:
    """The live version as dpone reads it back, rendered as text by DuckDB as the reader renders it."""
    table: pa.Table = read_target(path, process)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("live", table)
        return [list(r) for r in con.execute("SELECT COLUMNS(*)::VARCHAR FROM live ORDER BY id").fetchall()]


def project(folder: Path, lake: dict[str, Any], strategy: str, csv: str, **sink: Any) -> Path:
    """A manifest loading ``csv`` into the Delta table ``raw.t`` of ``lake`` with a typed contract."""
    (folder / "in").mkdir(parents=True, exist_ok=True)
    (folder / "in" / "d.csv").write_text(csv, encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "lake": lake},
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
                "sink": {"connection": "lake", "table": "raw.t", "format": "delta", "strategy": strategy, **sink},
                "schema_contract": {
                    "columns": {
                        "amount": {"type": "decimal", "precision": 18, "scale": 2},
                        "at": {"type": "timestamp", "tz": "UTC"},
                    }
                },
            }
        ],
    }
    path = folder / "m.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def load(path: Path) -> None:
    report = dpone_core.run(path)
    assert report.passed, report.to_text()


FIRST = "id,v,amount,at,day\n1,a,1.50,2024-01-01T10:00:00Z,2024-01-01\n2,b,2.25,2024-01-02T11:30:00Z,2024-01-02\n"
SECOND = "id,v,amount,at,day\n2,B,20.25,2024-01-02T12:00:00Z,2024-01-02\n3,ü,3.00,2024-01-03T00:00:00Z,2024-01-03\n"


def test_duckdb_reads_a_merged_delta_table_on_a_folder(tmp_path: Path) -> None:
    lake = {"type": "files", "root": "lake"}
    path = project(tmp_path, lake, "merge", FIRST, primary_key=["id"])
    load(path)
    project(tmp_path, lake, "merge", SECOND, primary_key=["id"])
    load(path)
    found = delta_scan(str(tmp_path / "lake" / "raw" / "t"))
    assert found == dpone_rows(path, "p")
    assert [r[:4] for r in found] == [
        ["1", "a", "1.50", "2024-01-01 10:00:00+00"],
        ["2", "B", "20.25", "2024-01-02 12:00:00+00"],
        ["3", "ü", "3.00", "2024-01-03 00:00:00+00"],
    ]


def test_duckdb_reads_the_live_slices_after_a_partition_replace_and_a_refresh(tmp_path: Path) -> None:
    lake = {"type": "files", "root": "lake"}
    path = project(tmp_path, lake, "partition_replace", FIRST)
    doc = json.loads(path.read_text())
    doc["processes"][0]["partitions"] = {"column": "day", "grain": "day"}
    path.write_text(json.dumps(doc))
    load(path)
    (tmp_path / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    load(path)  # replaces the slice of 2024-01-02, adds 2024-01-03
    table = str(tmp_path / "lake" / "raw" / "t")
    assert [r[:2] for r in delta_scan(table)] == [["1", "a"], ["2", "B"], ["3", "ü"]]
    doc["processes"][0]["sink"]["strategy"] = "full_refresh"
    path.write_text(json.dumps(doc))
    refreshed = "id,v,amount,at,day\n9,z,9.99,2024-02-01T00:00:00Z,2024-02-01\n"
    (tmp_path / "in" / "d.csv").write_text(refreshed, encoding="utf-8")
    load(path)
    assert delta_scan(table) == dpone_rows(path, "p") == [["9", "z", "9.99", "2024-02-01 00:00:00+00", "2024-02-01"]]


def test_duckdb_reads_a_merged_delta_table_on_s3(bucket: Bucket) -> None:
    path = project(bucket.folder, bucket.profile(), "merge", FIRST, primary_key=["id"])
    load(path)
    project(bucket.folder, bucket.profile(), "merge", SECOND, primary_key=["id"])
    load(path)
    found = delta_scan(f"s3://{bucket.name}/raw/t", bucket)
    assert found == dpone_rows(path, "p")
    assert [r[:2] for r in found] == [["1", "a"], ["2", "B"], ["3", "ü"]]
