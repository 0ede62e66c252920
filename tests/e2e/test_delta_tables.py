"""Delta Lake tables on a local folder: strategies, dpone's state in the Delta log, outside readers."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

import dpone_core
from dpone_core import checkpoints
from dpone_core.api import committed_files, loads, read_target, states

deltalake = pytest.importorskip("deltalake")


def manifest(tmp_path: Path, csv: str, strategy: str, **sink: Any) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "d.csv").write_text(csv, encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "lake": {"type": "files", "root": "lake"}},
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", "path": "d.csv", "format": "csv", "incremental": {"cursor": "n"}},
                "sink": {"connection": "lake", "table": "raw.t", "format": "delta", "strategy": strategy, **sink},
            }
        ],
    }
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run(path: Path, **kwargs: Any) -> dpone_core.RunReport:
    report = dpone_core.run(path, **kwargs)
    assert report.passed, report.to_text()
    return report


def rows(path: Path) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.values()) for r in read_target(path, "p").select(["id", "v"]).to_pylist())


def test_merge_append_refresh_and_the_state_in_the_delta_log(tmp_path: Path) -> None:
    path = manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", "merge", primary_key=["id"])
    first = run(path)
    assert first.result.inserted_rows == 2 and first.result.target == f"delta:{tmp_path / 'lake' / 'raw' / 't'}"
    manifest(tmp_path, "id,v,n\n1,a,1\n2,B,3\n3,c,4\n", "merge", primary_key=["id"])
    second = run(path)
    assert (second.result.inserted_rows, second.result.updated_rows) == (1, 1)  # n > 2 only: ids 2 and 3
    assert rows(path) == [(1, "a"), (2, "B"), (3, "c")]

    table = deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "t"))
    assert table.transaction_version("dpone:p") == 2
    newest = table.history(1)[0]
    assert newest["dpone.run_id"] == second.run_id and json.loads(newest["dpone.state"])["load_id"] == second.load_id
    assert (states(path)["p"] or {})["load_id"] == second.load_id
    assert [r["load_id"] for r in loads(path)] == [second.load_id, first.load_id]
    assert run(path, run_id=second.run_id).status == "skipped"  # a committed run id is not applied twice

    # An outside reader: the files the Delta log names, read as plain Parquet by DuckDB. (DuckDB's
    # delta extension is downloaded on first use, which this machine cannot do.)
    live = deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "t")).file_uris()
    assert sorted(committed_files(path, "p")) == sorted(live)
    with duckdb.connect() as con:
        found = con.execute("SELECT count(*), max(v) FROM read_parquet(?)", [live]).fetchone()
    assert found == (3, "c")

    manifest(tmp_path, "id,v,n\n9,z,9\n", "full_refresh")
    refresh = run(path)
    assert (refresh.result.inserted_rows, refresh.result.deleted_rows) == (1, 3)
    assert rows(path) == [(9, "z")]
    manifest(tmp_path, "id,v,n\n10,y,10\n", "append")
    run(path)
    assert rows(path) == [(9, "z"), (10, "y")]


def test_a_failed_load_leaves_the_delta_table_and_state_as_they_were(tmp_path: Path) -> None:
    path = manifest(tmp_path, "id,v,n\n1,a,1\n", "append")
    run(path)
    before = states(path)["p"]
    doc = json.loads(path.read_text())
    doc["processes"][0]["schema_contract"] = {"enforcement": "strict", "columns": {"v": {"allowed": ["a"]}}}
    path.write_text(json.dumps(doc))
    (tmp_path / "in" / "d.csv").write_text("id,v,n\n2,bad,2\n")
    report = dpone_core.run(path)
    assert not report.passed
    assert states(path)["p"] == before and rows(path) == [(1, "a")]
    assert deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "t")).version() == 0


def test_strategies_a_delta_table_does_not_take_fail_validation(tmp_path: Path) -> None:
    path = manifest(tmp_path, "id,v,n\n1,a,1\n", "snapshot_diff", primary_key=["id"])
    with pytest.raises(dpone_core.ManifestError, match="a files delta sink supports strategies"):
        dpone_core.validate(path)


def history(path: Path) -> list[tuple[Any, ...]]:
    table = read_target(path, "p").to_pylist()
    return sorted(((r["id"], r["v"], r.get("w"), r["is_current"], r["valid_to"] is None) for r in table), key=repr)


def test_scd2_closes_changed_versions_and_inserts_new_ones_in_one_commit(tmp_path: Path) -> None:
    path = manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", "scd2", primary_key=["id"])
    assert run(path).result.inserted_rows == 2
    manifest(tmp_path, "id,v,n\n1,a,3\n2,B,4\n3,c,5\n", "scd2", primary_key=["id"])
    second = run(path)
    assert (second.result.inserted_rows, second.result.updated_rows) == (3, 2)  # 1 and 2 changed (n, v), 3 new
    assert history(path) == [
        (1, "a", None, False, False),
        (1, "a", None, True, True),
        (2, "B", None, True, True),
        (2, "b", None, False, False),
        (3, "c", None, True, True),
    ]
    closed = next(r for r in read_target(path, "p").to_pylist() if r["v"] == "b")
    opened = next(r for r in read_target(path, "p").to_pylist() if r["v"] == "B")
    assert closed["valid_to"] == opened["valid_from"]

    # A new column: the new versions carry it, the closed ones stay as they were (NULL).
    manifest(tmp_path, "id,v,n,w\n2,B,6,7\n", "scd2", primary_key=["id"])
    third = run(path)
    assert (third.result.inserted_rows, third.result.updated_rows) == (1, 1)
    assert {r for r in history(path) if r[0] == 2} == {
        (2, "b", None, False, False),
        (2, "B", None, False, False),
        (2, "B", 7, True, True),
    }
    assert (states(path)["p"] or {})["load_id"] == third.load_id


def sliced(path: Path) -> Path:
    doc = json.loads(path.read_text())
    doc["processes"][0]["partitions"] = {"column": "day", "grain": "day"}
    path.write_text(json.dumps(doc))
    return path


def test_partition_replace_swaps_the_slices_a_load_holds(tmp_path: Path) -> None:
    csv = "id,v,n,day\n1,a,1,2024-01-01\n2,b,2,2024-01-02\n3,c,3,\n4,d,4,2024-01-03\n"
    path = sliced(manifest(tmp_path, csv, "partition_replace"))
    run(path)
    sliced(manifest(tmp_path, "id,v,n,day\n5,e,5,2024-01-02\n6,f,6,\n7,g,7,2024-01-02\n", "partition_replace"))
    report = run(path)
    assert (report.result.inserted_rows, report.result.deleted_rows) == (3, 2)  # day 2 and the NULL slice
    assert rows(path) == [(1, "a"), (4, "d"), (5, "e"), (6, "f"), (7, "g")]
    table = deltalake.DeltaTable(str(tmp_path / "lake" / "raw" / "t"))
    assert table.history(1)[0]["operation"] == "WRITE" and table.version() == 1  # one commit per load


def test_scd2_closes_keys_the_delete_marker_names(tmp_path: Path) -> None:
    marker = {"primary_key": ["id"], "delete_marker": {"column": "gone", "mode": "hard"}}
    path = manifest(tmp_path, "id,v,n,gone\n1,a,1,false\n2,b,2,false\n3,c,3,true\n", "scd2", **marker)
    assert run(path).result.inserted_rows == 2  # a marked new key is not inserted
    manifest(tmp_path, "id,v,n,gone\n1,a,4,true\n", "scd2", **marker)
    report = run(path)
    assert (report.result.inserted_rows, report.result.updated_rows, report.result.deleted_rows) == (0, 0, 1)
    table = read_target(path, "p")
    assert "gone" not in table.column_names
    assert sorted((r["id"], r["is_current"], r["valid_to"] is None) for r in table.to_pylist()) == [
        (1, False, False),
        (2, True, True),
    ]


def staged_at_finalize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, pa.Table]:
    """The files in the Delta sink's local staging when the commit starts, by name (filled by the run)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: dict[str, pa.Table] = {}

    def look(name: str) -> None:
        if name == "finalize":
            for file in scratch.glob("dpone-delta-p-*/load=*/*"):
                with pa.OSFile(str(file)) as handle:
                    magic = handle.read(6)
                    # An Arrow IPC file starts with ARROW1; anything else is kept as an empty table.
                    seen[file.name] = ipc.open_file(handle).read_all() if magic == b"ARROW1" else pa.table({})

    monkeypatch.setattr(checkpoints, "_listeners", [*checkpoints._listeners, look])
    return seen


def test_rows_are_staged_once_as_arrow_files_and_the_staging_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = staged_at_finalize(tmp_path, monkeypatch)
    path = manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n3,c,3\n", "full_refresh")
    report = run(path)
    assert list(staged) == ["part-00000.arrow"]  # one file, not Parquet (encoded twice before delta-rs)
    assert sorted(staged["part-00000.arrow"].column("id").to_pylist()) == [1, 2, 3]
    assert report.result.inserted_rows == 3 and rows(path) == [(1, "a"), (2, "b"), (3, "c")]
    assert list((tmp_path / "scratch").iterdir()) == []  # dropped after the commit


def test_repeated_keys_are_quarantined_out_of_the_arrow_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = staged_at_finalize(tmp_path, monkeypatch)
    path = manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n1,x,3\n3,c,4\n2,y,5\n", "merge", primary_key=["id"])
    doc = json.loads(path.read_text())
    doc["processes"][0] |= {"schema_contract": {"enforcement": "quarantine"}, "quarantine": {"dir": "q"}}
    path.write_text(json.dumps(doc))
    report = run(path)
    assert (report.result.inserted_rows, report.result.quarantined_rows) == (3, 2)
    assert rows(path) == [(1, "a"), (2, "b"), (3, "c")]  # the first row of each key
    # The repeats were cut out by writing the file again under a new name, still Arrow.
    assert list(staged) == ["part-00000-r0.arrow"] and staged["part-00000-r0.arrow"].num_rows == 3


def test_a_first_load_looks_for_the_missing_table_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real = deltalake.DeltaTable.__init__

    def counted(table: Any, uri: str, *args: Any, **kwargs: Any) -> None:
        opened.append(str(uri))
        real(table, uri, *args, **kwargs)

    monkeypatch.setattr(deltalake.DeltaTable, "__init__", counted)
    run(manifest(tmp_path, "id,v,n\n1,a,1\n", "append"))
    # Each look for the table is a listing of the store (requests to S3): the run looks once and
    # keeps "no table" as its view; write_deltalake, given the folder, looks once more itself.
    assert len(opened) == 2


def test_the_staging_is_scratch_and_never_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staged = staged_at_finalize(tmp_path, monkeypatch)
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = manifest(tmp_path, "id,v,n\n1,a,1\n2,b,2\n", "append")
    run(path)
    assert list(staged) == ["part-00000.arrow"] and rows(path) == [(1, "a"), (2, "b")]
    # A killed run abandons its staging, so nothing of it is forced to disk (the target's log is).
    assert [p for p in synced if p.startswith(str(tmp_path / "scratch"))] == []


def test_dictionary_columns_with_a_dictionary_per_row_group_stage_as_arrow(tmp_path: Path) -> None:
    # An Arrow IPC file holds one dictionary per column: the staging must see the values decoded.
    (tmp_path / "in").mkdir()
    first = pa.table({"id": [1, 2], "v": pa.array(["x", "y"]).dictionary_encode()})
    second = pa.table({"id": [3, 4], "v": pa.array(["z", "x"]).dictionary_encode()})
    with pq.ParquetWriter(tmp_path / "in" / "d.parquet", first.schema) as writer:
        writer.write_table(first)
        writer.write_table(second)
    doc = json.loads(manifest(tmp_path, "id,v,n\n", "append").read_text())
    doc["processes"][0]["source"] = {"connection": "inbox", "path": "d.parquet", "format": "parquet"}
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc))
    assert run(path).result.inserted_rows == 4
    assert rows(path) == [(1, "x"), (2, "y"), (3, "z"), (4, "x")]
