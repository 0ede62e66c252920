"""File sets over a local store: compressed text, nested globs, Hive folders and incremental by file."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dpone_core
from dpone_core.api import states
from tests.e2e.conftest import query


def manifest(tmp_path: Path, source: dict[str, Any], strategy: str = "append", **sink: Any) -> Path:
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", **source},
                "sink": {"connection": "wh", "table": "t", "strategy": strategy, **sink},
            }
        ],
    }
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run(path: Path) -> dpone_core.RunReport:
    report = dpone_core.run(path)
    assert report.passed, report.to_text()
    return report


def test_gzip_and_zstd_text_files_under_a_nested_glob(tmp_path: Path) -> None:
    inbox = tmp_path / "in" / "2024"
    (inbox / "01").mkdir(parents=True)
    (inbox / "02").mkdir()
    (inbox / "01" / "a.csv.gz").write_bytes(gzip.compress(b"id,v\n1,x\n2,y\n"))
    with pa.CompressedOutputStream(str(inbox / "02" / "b.csv.zst"), "zstd") as out:
        out.write(b"id,v\n3,z\n")
    (inbox / "02" / "skip.txt").write_text("not matched")
    path = manifest(tmp_path, {"path": "2024/**/*.csv.*", "format": "csv"})
    assert run(path).result.inserted_rows == 3
    assert query(tmp_path / "wh.duckdb", "SELECT id, v FROM t ORDER BY id") == [(1, "x"), (2, "y"), (3, "z")]

    lines = tmp_path / "in" / "j.jsonl.gz"
    lines.write_bytes(gzip.compress(b'{"id": 9, "v": "j"}\n'))
    path = manifest(tmp_path, {"path": "*.jsonl.gz", "format": "jsonl"})
    assert run(path).result.inserted_rows == 1


def test_hive_folders_become_string_columns(tmp_path: Path) -> None:
    root = tmp_path / "in" / "events"
    for day, region, ids in (("2024-01-01", "eu", [1, 2]), ("2024-01-02", "us", [3]), ("2024-01-02", "eu%2Fw", [4])):
        folder = root / f"day={day}" / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": ids}), folder / "part-0.parquet")
    source = {"path": "events/**/*.parquet", "format": "parquet", "options": {"hive_partitions": True}}
    run(manifest(tmp_path, source))
    rows = query(tmp_path / "wh.duckdb", "SELECT id, day, region FROM t ORDER BY id")
    assert rows == [
        (1, "2024-01-01", "eu"),
        (2, "2024-01-01", "eu"),
        (3, "2024-01-02", "us"),
        (4, "2024-01-02", "eu/w"),
    ]
    assert query(
        tmp_path / "wh.duckdb", "SELECT data_type FROM information_schema.columns WHERE column_name = 'day'"
    ) == [("VARCHAR",)]

    only = {**source, "columns": ["region", "id"]}
    (tmp_path / "wh.duckdb").unlink()
    run(manifest(tmp_path, only))
    assert query(tmp_path / "wh.duckdb", "SELECT * FROM t ORDER BY id LIMIT 1") == [("eu", 1)]


def _csv(path: Path, rows: list[tuple[int, str]], mtime: float | None = None) -> None:
    path.write_text("id,v\n" + "".join(f"{i},{v}\n" for i, v in rows), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_incremental_by_file_loads_new_and_rewritten_files_once(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    now = time.time()
    _csv(inbox / "a.csv", [(1, "a")], now - 60)
    _csv(inbox / "b.csv", [(2, "b")], now - 30)
    path = manifest(tmp_path, {"path": "*.csv", "format": "csv", "incremental": {"mode": "files"}})
    assert run(path).result.inserted_rows == 2
    files = (states(path)["p"] or {})["extra"]["files"]
    assert sorted(files["seen"]) == ["a.csv", "b.csv"]

    assert run(path).result.inserted_rows == 0  # nothing new

    _csv(inbox / "c.csv", [(3, "c")], now - 10)
    _csv(inbox / "a.csv", [(1, "a2"), (11, "a2")], now)  # rewritten in place
    (inbox / "b.csv").unlink()  # deleted: nothing to do
    assert run(path).result.inserted_rows == 3
    assert query(tmp_path / "wh.duckdb", "SELECT id, v FROM t ORDER BY id, v") == [
        (1, "a"),
        (1, "a2"),
        (2, "b"),
        (3, "c"),
        (11, "a2"),
    ]

    _csv(inbox / "old.csv", [(99, "old")], now - 3 * 3600)  # older than the 1h window: taken as loaded
    assert run(path).result.inserted_rows == 0


def test_a_failed_file_load_does_not_advance_the_files_state(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    _csv(inbox / "a.csv", [(1, "a")])
    path = manifest(tmp_path, {"path": "*.csv", "format": "csv", "incremental": {"mode": "files", "lookback": "2h"}})
    run(path)
    before = states(path)["p"]
    (inbox / "b.csv").write_text("id,v\n2,b,extra\n", encoding="utf-8")
    report = dpone_core.run(path)
    errors = report.result.errors
    assert not report.passed and errors[0].code != "DPONE_INTERNAL"
    assert "b.csv" in errors[0].message
    assert states(path)["p"] == before
    _csv(inbox / "b.csv", [(2, "b")])
    assert run(path).result.inserted_rows == 1
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM t") == [(2,)]


def test_incremental_by_file_needs_a_file_source(tmp_path: Path) -> None:
    path = manifest(tmp_path, {"path": "*.csv", "format": "csv", "incremental": {"mode": "files", "cursor": "id"}})
    with pytest.raises(dpone_core.ManifestError, match="incremental mode files takes no cursor"):
        dpone_core.validate(path)


def test_a_files_window_is_not_a_row_lookback_for_a_parquet_sink(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    _csv(tmp_path / "in" / "a.csv", [(1, "a")])
    doc = json.loads(manifest(tmp_path, {"path": "*.csv", "format": "csv"}).read_text())
    doc["connections"]["out"] = {"type": "files", "root": "out"}
    doc["processes"][0]["source"]["incremental"] = {"mode": "files", "lookback": "3h"}
    doc["processes"][0]["sink"] = {"connection": "out", "table": "t", "strategy": "append", "format": "parquet"}
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert run(path).result.inserted_rows == 1
    assert run(path).result.inserted_rows == 0
