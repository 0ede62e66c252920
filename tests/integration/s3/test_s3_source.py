"""S3 file sets read into DuckDB through a real (moto) S3 endpoint."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import dpone_core
from dpone_core.api import states
from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.s3.profile import S3Profile
from dpone_core.connectors.s3.store import S3Settings, S3Store
from tests.e2e.conftest import query, run_cli
from tests.integration.s3.conftest import Bucket
from tests.integration.s3.motoserver import SECRET_KEY


def parquet_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def process(source: dict[str, Any], strategy: str = "append") -> dict[str, Any]:
    return {
        "name": "p",
        "source": {"connection": "lake", **source},
        "sink": {"connection": "wh", "table": "t", "strategy": strategy},
    }


def run(bucket: Bucket, source: dict[str, Any], **kwargs: Any) -> dpone_core.RunReport:
    report = dpone_core.run(bucket.manifest([process(source, **kwargs)]))
    assert report.passed, report.to_text()
    return report


def test_parquet_under_a_prefix_with_a_nested_glob(bucket: Bucket) -> None:
    bucket.put("raw/orders/2024/01/a.parquet", parquet_bytes(pa.table({"id": [1, 2], "amount": [1.5, 2.5]})))
    bucket.put("raw/orders/2024/02/b.parquet", parquet_bytes(pa.table({"id": [3], "amount": [3.5]})))
    bucket.put("raw/orders/2024/02/_SUCCESS", b"")
    bucket.put("raw/other/c.parquet", parquet_bytes(pa.table({"id": [9], "amount": [9.0]})))
    report = run(bucket, {"path": "raw/orders/**/*.parquet", "format": "parquet"})
    assert report.result.inserted_rows == 3
    assert report.result.source == f"files:s3://{bucket.name}/raw/orders/**/*.parquet (parquet)"
    assert query(bucket.folder / "wh.duckdb", "SELECT id, amount FROM t ORDER BY id") == [(1, 1.5), (2, 2.5), (3, 3.5)]


def test_compressed_text_and_hive_folders(bucket: Bucket) -> None:
    bucket.put("ev/day=2024-01-01/a.csv.gz", gzip.compress(b"id,v\n1,x\n2,y\n"))
    bucket.put("ev/day=2024-01-02/b.csv.gz", gzip.compress(b"id,v\n3,z\n"))
    run(bucket, {"path": "ev/*/*.csv.gz", "format": "csv", "options": {"hive_partitions": True}})
    assert query(bucket.folder / "wh.duckdb", "SELECT id, v, day FROM t ORDER BY id") == [
        (1, "x", "2024-01-01"),
        (2, "y", "2024-01-01"),
        (3, "z", "2024-01-02"),
    ]
    bucket.put("j/a.jsonl", b'{"id": 7, "v": "j"}\n{"id": 8, "v": "k"}\n')
    run(bucket, {"path": "j/*.jsonl", "format": "jsonl"})
    assert query(bucket.folder / "wh.duckdb", "SELECT count(*) FROM t WHERE id >= 7") == [(2,)]


def test_incremental_by_file_new_changed_and_deleted_objects(bucket: Bucket) -> None:
    source = {"path": "in/*.csv", "format": "csv", "incremental": {"mode": "files"}}
    bucket.put("in/a.csv", b"id,v\n1,a\n")
    bucket.put("in/b.csv", b"id,v\n2,b\n")
    assert run(bucket, source).result.inserted_rows == 2
    assert run(bucket, source).result.inserted_rows == 0
    bucket.put("in/c.csv", b"id,v\n3,c\n")  # new
    bucket.put("in/a.csv", b"id,v\n1,a2\n")  # rewritten: a new ETag
    bucket.client.delete_object(Bucket=bucket.name, Key="in/b.csv")  # deleted
    assert run(bucket, source).result.inserted_rows == 2
    assert query(bucket.folder / "wh.duckdb", "SELECT id, v FROM t ORDER BY id, v") == [
        (1, "a"),
        (1, "a2"),
        (2, "b"),
        (3, "c"),
    ]
    seen = (states(bucket.folder / "m.yaml")["p"] or {})["extra"]["files"]["seen"]
    assert sorted(seen) == ["in/a.csv", "in/b.csv", "in/c.csv"]


def test_store_errors_are_one_line_without_the_secret(bucket: Bucket) -> None:
    bucket.put("in/a.csv", b"id\n1\n")
    source = {"path": "in/*.csv", "format": "csv"}
    cases = {
        "the bucket does not exist": {"bucket": "dpone-no-such-bucket"},
        "no files match": {},
    }
    for expected, change in cases.items():
        manifest = bucket.manifest(
            [process({**source, "path": "none/*.csv"} if not change else source)],
            connections={"lake": {**bucket.profile(), **change}},
        )
        report = dpone_core.run(manifest)
        assert not report.passed
        text = report.model_dump_json()
        assert expected in text, text
        assert SECRET_KEY not in text
        assert report.result.errors[0].code != "DPONE_INTERNAL"


def test_a_listing_is_streamed_a_page_at_a_time(bucket: Bucket) -> None:
    """Listing holds one page: with 100-key pages the peak is the same for 200 and 1,200 keys.

    moto lists in time proportional to the whole bucket per page, so a real million keys is out of
    reach here; the page size is what bounds memory, and it is the same code path at 1,000.
    """
    client = bucket.client

    def put(index: int) -> None:
        client.put_object(Bucket=bucket.name, Key=f"many/k{index:06d}.csv", Body=b"x\n")

    store = S3Store(S3Settings.of(S3Profile.model_validate(bucket.profile()), bucket.folder))
    store.page_size = 100
    peaks = []
    with ThreadPoolExecutor(8) as pool:
        for total in (200, 1_200):
            list(pool.map(put, range(len(peaks) and 200, total)))
            sum(1 for _ in store.objects(FilePattern("many/*.csv")))  # warm: clients and imports
            tracemalloc.start()
            count = sum(1 for _ in store.objects(FilePattern("many/*.csv")))
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            assert count == total
    assert peaks[1] < peaks[0] * 2, peaks


def test_doctor_checks_the_bucket(bucket: Bucket) -> None:
    bucket.put("in/a.csv", b"id\n1\n")
    manifest = bucket.manifest([process({"path": "in/*.csv", "format": "csv"})])
    proc = run_cli("doctor", "--manifest", str(manifest))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"source lake opens (s3://{bucket.name}/: list ok)" in proc.stdout

    missing = bucket.manifest(
        [process({"path": "in/*.csv", "format": "csv"})],
        connections={"lake": {**bucket.profile(), "bucket": "dpone-no-such-bucket"}},
    )
    proc = run_cli("doctor", "--manifest", str(missing))
    assert proc.returncode != 0
    assert "s3://dpone-no-such-bucket/: the bucket does not exist" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and SECRET_KEY not in proc.stdout + proc.stderr
