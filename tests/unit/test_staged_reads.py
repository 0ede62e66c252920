"""Reading a load's staged Parquet files back as one stream (what a Delta operation is fed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dpone_core.connectors.object_store import table_files
from dpone_core.connectors.object_store.delta_merge import unmarked
from dpone_core.connectors.object_store.table_files import in_file_order


def _staged(tmp_path: Path, sizes: list[int]) -> ds.FileSystemDataset:
    paths, first = [], 0
    for number, size in enumerate(sizes):
        ids = list(range(first, first + size))
        gone = [i % 3 == 0 if i % 5 else None for i in ids]  # every fifth marker NULL
        table = pa.table({"id": ids, "gone": gone, "name": [f"n{i}" for i in ids]})
        path = tmp_path / f"part-{number:05d}.parquet"
        pq.write_table(table, path, row_group_size=7)
        paths.append(str(path))
        first += size
    return ds.dataset(paths, format="parquet")


def test_rows_come_file_by_file_in_batches_of_at_most_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_files, "READ_BATCH_ROWS", 10)
    reader = in_file_order(_staged(tmp_path, [25, 0, 13]), columns=["name", "id"])
    batches = list(reader)
    assert reader.schema.names == ["name", "id"]
    assert max(b.num_rows for b in batches) <= 10
    assert pa.Table.from_batches(batches, reader.schema).column("id").to_pylist() == list(range(38))


def test_keep_filters_on_a_column_the_stream_leaves_out(tmp_path: Path) -> None:
    table = in_file_order(_staged(tmp_path, [20, 20]), columns=["id"], keep=unmarked("gone")).read_all()
    assert table.schema.names == ["id"]
    expected = [i for i in range(40) if not (i % 5 and i % 3 == 0)]  # NULL marker: kept
    assert table.column("id").to_pylist() == expected


def test_batches_take_the_datasets_schema(tmp_path: Path) -> None:
    staged = _staged(tmp_path, [4])
    wide = pa.schema([pa.field("id", pa.int64()), pa.field("gone", pa.bool_()), pa.field("name", pa.large_string())])
    dataset = ds.dataset(staged.files, schema=wide, format="parquet")
    table = in_file_order(dataset).read_all()
    assert table.schema == wide
    assert table.column("name").to_pylist() == ["n0", "n1", "n2", "n3"]
