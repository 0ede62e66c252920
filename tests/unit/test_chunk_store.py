"""The chunk store and chunk source of chunked loads: file names, atomic parking, reading back, mismatches."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dpone_core.errors import TerminalError
from dpone_core.model import ReadRequest
from dpone_core.runtime.chunks.source import ChunkSource
from dpone_core.runtime.chunks.store import ChunkStore, safe_name


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))


def test_safe_names_are_plain_file_names() -> None:
    assert safe_name("manual__2026-11-23T18:00:00+00:00") == "manual__2026-11-23T18%3A00%3A00%2B00%3A00"
    assert safe_name("../etc") == "%2E%2E%2Fetc"
    assert safe_name("ä b") == "%C3%A4%20b"
    assert len({safe_name(v) for v in ["a.b", "a%2Eb", "a/b", "a%2Fb"]}) == 4


def test_chunks_round_trip_every_arrow_type_and_project_columns(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "p", "p", "run:1")
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([Decimal("1.10"), None, Decimal("3.30")], pa.decimal128(18, 2)),
            "span": pa.array([pa.MonthDayNano([1, 2, 3])] * 3, pa.month_day_nano_interval()),
            "ts": pa.array([0, 1, 2], pa.timestamp("us", tz="UTC")),
        }
    )
    info = store.write("0", _reader(table), "postgres:db/public.t", ("postgres://h:5432", "db.public.t"))
    assert info.rows == 3 and info.lineage == ("postgres://h:5432", "db.public.t")
    store.write("1", _reader(table.slice(0, 1)), "postgres:db/public.t", ("postgres://h:5432", "db.public.t"))
    chunks = store.require(["0", "1"])
    source = ChunkSource(store, chunks)
    assert source.lineage_name() == ("postgres://h:5432", "db.public.t")
    assert "2 chunks of run run:1" in source.describe()
    read = source.read(ReadRequest(columns=("id", "span"))).read_all()
    assert read.column_names == ["id", "span"]
    assert read.column("id").to_pylist() == [1, 2, 3, 1]
    assert read.schema.field("span").type == pa.month_day_nano_interval()
    whole = source.read(ReadRequest()).read_all()
    assert whole.schema.equals(table.schema) and whole.slice(0, 3).equals(table)


def test_a_chunk_without_its_marker_is_missing_and_no_partial_file_stays(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "p", "p", "r")
    store.write("eu", _reader(pa.table({"id": [1]})), "s", ("file", "x"))
    store.marker_path("eu").unlink()  # as if the process died between the file and its marker
    with pytest.raises(TerminalError, match=r"no extracted chunk for partition\(s\) eu, us"):
        store.require(["eu", "us"])

    def failing() -> pa.RecordBatchReader:
        def batches():  # type: ignore[no-untyped-def]
            yield pa.record_batch({"id": [1]})
            raise RuntimeError("source died")

        return pa.RecordBatchReader.from_batches(pa.schema({"id": pa.int64()}), batches())

    with pytest.raises(RuntimeError, match="source died"):
        store.write("us", failing(), "s", ("file", "x"))
    assert sorted(p.name for p in store.run_dir.iterdir()) == ["eu.arrow"]  # no partial, no marker


def test_chunks_with_different_schemas_are_refused(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "p", "p", "r")
    store.write("a", _reader(pa.table({"id": pa.array([1], pa.int64())})), "s", ("file", "x"))
    store.write("b", _reader(pa.table({"id": pa.array(["1"], pa.string())})), "s", ("file", "x"))
    source = ChunkSource(store, store.require(["a", "b"]))
    with pytest.raises(TerminalError, match="chunk b of run r has schema"):
        source.read(ReadRequest())
    marker = json.loads(store.marker_path("a").read_text())
    assert (marker["partition"], marker["rows"], marker["run_id"]) == ("a", 1, "r")
    store.remove()
    assert not store.run_dir.exists()
