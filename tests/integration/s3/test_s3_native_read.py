"""Parquet objects on S3 -> DuckDB through the ``native`` write path, against the Arrow path.

The files are scanned by DuckDB as a ``pyarrow.dataset`` over the S3 store's own filesystem (a
real moto endpoint), with the contract as SQL. Each test runs the same loads with the native
path on and off (``both_ways``): targets, counts, verdicts, quarantined rows, audit rows and state
must match, only ``write_path`` differs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.e2e.test_duckdb_native_read import CONTRACT, MANIFEST, SCHEMA, Project, both_ways, native_off, rows
from tests.integration.s3.conftest import Bucket
from tests.integration.s3.motoserver import MotoServer

__all__ = ["native_off"]  # the fixture, imported for the tests below


class S3Project(Project):
    """A project whose input files are objects of a fresh bucket (``in/``), loaded into DuckDB."""

    def __init__(self, server: MotoServer, root: Path, strategy: str, enforcement: str, incremental: str, extra: str):
        root.mkdir(parents=True)
        self.root, self.bucket = root, Bucket(server, server.new_bucket(), root)
        text = MANIFEST.format(strategy=strategy, incremental=incremental)
        text += CONTRACT.format(enforcement=enforcement, extra=extra)
        doc = yaml.safe_load(text)
        doc["connections"]["inbox"] = self.bucket.profile()
        doc["processes"][0]["source"]["path"] = "in/*.parquet"
        self.manifest = root / "m.yaml"
        self.manifest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    def write(self, name: str, table: pa.Table) -> None:
        out = io.BytesIO()
        pq.write_table(table, out)
        self.bucket.put(f"in/{name}", out.getvalue())


def on_s3(server: MotoServer) -> Callable[[Path, str, str, str, str], Project]:
    """``both_ways``'s project factory for S3."""
    return lambda root, strategy, enforcement, incremental, extra: S3Project(
        server, root, strategy, enforcement, incremental, extra
    )


def test_a_merge_and_reload_from_s3_match_the_arrow_path(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    first = {"a.parquet": rows(range(0, 600)), "b.parquet": rows(range(600, 1000))}
    changed = {"b.parquet": rows(range(600, 1200), amount={700: Decimal("7.50")}, email={800: None})}
    done, paths = both_ways(tmp_path, native_off, [first, changed], make=on_s3(moto_server))
    assert paths == ["native", "native"]
    assert done[0]["counts"] == (1000, 1000, 1000, 0, 0, 0)
    assert done[1]["counts"] == (1200, 1200, 200, 2, 0, 0)
    assert {g["verdict"] for g in done[1]["gates"]} == {"passed"}


def test_quarantine_from_s3_splits_the_same_rows_with_the_same_reasons(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    bad = rows(range(0, 300), amount={1: Decimal("-1")}, status={4: "lost"}, email={7: "no at sign"})
    done, paths = both_ways(tmp_path, native_off, [{"a.parquet": bad}], make=on_s3(moto_server))
    assert paths == ["native"]
    assert {row["id"]: row["__dpone_reason"] for row in done[0]["quarantined"]} == {
        1: "amount.min: must be >= 0",
        4: "status.allowed: must be one of new, paid",
        7: "email.regex: must match /^[^@ ]+@[^@ ]+$/",
    }
    assert done[0]["counts"][5] == 3


def test_a_strict_violation_on_s3_fails_as_the_arrow_gate_says_and_commits_nothing(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    loads = [{"a.parquet": rows(range(0, 50))}, {"a.parquet": rows(range(0, 80), status={70: "lost"})}]
    done, paths = both_ways(tmp_path, native_off, loads, enforcement="strict", make=on_s3(moto_server))
    assert paths[0] == "native"
    assert not done[1]["passed"] and "status.allowed" in done[1]["errors"][0]
    assert done[1]["target"] == done[0]["target"]
    assert done[1]["state"] == {}


def test_new_objects_on_s3_append_by_file_state(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    loads = [{"a.parquet": rows(range(0, 100))}, {"b.parquet": rows(range(100, 130))}, {}]
    done, paths = both_ways(
        tmp_path,
        native_off,
        loads,
        strategy="append",
        incremental=", incremental: {mode: files}",
        make=on_s3(moto_server),
    )
    assert paths == ["native", "native", "staged"]
    assert [d["counts"][0] for d in done] == [100, 30, 0]
    assert done[1]["state"]["extra"] == ["in/a.parquet", "in/b.parquet"]


def test_objects_whose_types_differ_read_as_arrow(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    other = rows(range(10, 20)).cast(SCHEMA.set(4, pa.field("score", pa.float32())))
    loads = [{"a.parquet": rows(range(0, 10)), "b.parquet": other}]
    done, paths = both_ways(tmp_path, native_off, loads, make=on_s3(moto_server))
    assert paths == ["direct"]
    assert len(done[0]["target"]) == 20


def test_snapshot_diff_from_s3_reads_the_objects_once_per_statement(
    tmp_path: Path, moto_server: MotoServer, native_off: Callable[[bool], None]
) -> None:
    # Its statements read the staging view several times: each scan of the objects starts afresh.
    loads = [{"a.parquet": rows(range(0, 100))}, {"a.parquet": rows(range(50, 120), status={60: "new"})}]
    done, paths = both_ways(tmp_path, native_off, loads, strategy="snapshot_diff", make=on_s3(moto_server))
    assert paths == ["native", "native"]
    assert done[1]["counts"] == (70, 70, 20, 1, 50, 0)
