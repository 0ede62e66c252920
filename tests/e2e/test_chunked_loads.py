"""Chunked loads: partitions extracted by separate runs, committed by one finalize run (files -> DuckDB)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import CLI, query, run_cli, run_json, wait_for

CSV = """
id,region,amount
1,eu,10.5
2,us,20.0
3,eu,30.25
4,apac,40.0
5,us,50.0
6,eu,60.0
"""

PROCESS = """
- name: sales
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: analytics.sales, strategy: merge, primary_key: [id]}
  schema_contract:
    columns:
      id: {type: integer, nullable: false}
      amount: {type: decimal, precision: 10, scale: 2}
  partitions: {column: region, values: [eu, us, apac], chunk_dir: chunks}
"""


def _extract(manifest: Path, run_id: str, *keys: str) -> list[dict[str, object]]:
    return [run_json(manifest, "--run-id", run_id, "--phase", "extract", "--partition", key) for key in keys]


def test_extract_runs_park_partitions_and_one_finalize_commits_them_all(project: Callable[..., Path]) -> None:
    manifest = project(CSV, PROCESS)
    root = manifest.parent
    reports = _extract(manifest, "r1", "eu", "us", "apac")
    assert [(r["status"], r["result"]["extracted_rows"]) for r in reports] == [
        ("extracted", 3),
        ("extracted", 2),
        ("extracted", 1),
    ]
    assert not (root / "wh.duckdb").exists() or query(
        root / "wh.duckdb", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sales'"
    ) == [(0,)]  # nothing is written to the target by an extract
    parked = sorted(p.name for p in (root / "chunks" / "sales" / "r1").iterdir())
    assert parked == ["apac.arrow", "apac.json", "eu.arrow", "eu.json", "us.arrow", "us.json"]

    report = run_json(manifest, "--run-id", "r1", "--phase", "finalize")
    assert report["status"] == "succeeded"
    assert report["result"]["inserted_rows"] == 6
    db = root / "wh.duckdb"
    assert query(db, "SELECT id, region, amount::VARCHAR FROM analytics.sales ORDER BY id") == [
        (1, "eu", "10.50"),
        (2, "us", "20.00"),
        (3, "eu", "30.25"),
        (4, "apac", "40.00"),
        (5, "us", "50.00"),
        (6, "eu", "60.00"),
    ]
    assert query(db, "SELECT run_id, partition_key, rows_inserted FROM __dpone__loads") == [("r1", "eu,us,apac", 6)]
    evidence = json.loads(Path(report["result"]["evidence_paths"][0]).read_text())
    assert evidence["partition"] == "eu,us,apac" and evidence["counts"]["extracted"] == 6
    assert not (root / "chunks" / "sales" / "r1").exists()  # consumed by the commit

    again = run_json(manifest, "--run-id", "r1", "--phase", "finalize")
    assert again["status"] == "skipped"
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(1,)]


def test_a_missing_chunk_fails_the_finalize_before_anything_is_written(project: Callable[..., Path]) -> None:
    manifest = project(CSV, PROCESS)
    root = manifest.parent
    _extract(manifest, "r2", "eu", "apac")
    proc = run_cli("run", str(manifest), "--run-id", "r2", "--phase", "finalize")
    assert proc.returncode == 1
    assert "no extracted chunk for partition(s) us" in proc.stdout + proc.stderr
    assert not (root / "wh.duckdb").exists() or query(
        root / "wh.duckdb", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sales'"
    ) == [(0,)]
    assert (root / "chunks" / "sales" / "r2" / "eu.arrow").is_file()  # kept for the retry

    _extract(manifest, "r2", "us")
    report = run_json(manifest, "--run-id", "r2", "--phase", "finalize")
    assert report["result"]["inserted_rows"] == 6


def test_a_finalize_commits_only_the_listed_chunks_and_an_extract_rerun_replaces_its_chunk(
    project: Callable[..., Path],
) -> None:
    manifest = project(CSV, PROCESS)
    _extract(manifest, "r3", "eu", "eu", "us")  # the second eu extract replaces the first: no doubled rows
    report = run_json(manifest, "--run-id", "r3", "--phase", "finalize", "--chunks", "eu,us")
    assert report["result"]["inserted_rows"] == 5
    assert query(manifest.parent / "wh.duckdb", "SELECT count(*) FROM analytics.sales WHERE region = 'apac'") == [(0,)]


def test_uniqueness_is_checked_across_chunks_and_a_failed_finalize_commits_nothing(
    project: Callable[..., Path],
) -> None:
    manifest = project(CSV + "3,us,99.0\n", PROCESS)  # id 3 is in the eu and the us partitions
    root = manifest.parent
    _extract(manifest, "r4", "eu", "us", "apac")
    proc = run_cli("run", str(manifest), "--run-id", "r4", "--phase", "finalize", "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "failed"
    assert "repeat the key (id)" in report["result"]["errors"][0]["message"]
    db = root / "wh.duckdb"
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(0,)]
    assert query(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sales'") == [(0,)]
    assert (root / "chunks" / "sales" / "r4" / "us.arrow").is_file()


def test_phase_misuse_is_a_configuration_error(project: Callable[..., Path]) -> None:
    manifest = project(CSV, PROCESS)
    cases = [
        (["--phase", "extract"], "phase extract needs a partition"),
        (["--phase", "finalize", "--partition", "eu"], "commits the chunks of every partition"),
        (["--chunks", "eu"], "chunks apply only to phase finalize"),
        (["--phase", "finalize", "--chunks", "eu,eu"], "listed twice"),
    ]
    for args, message in cases:
        proc = run_cli("run", str(manifest), "--run-id", "x", *args)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
        assert message in proc.stdout + proc.stderr
    unpartitioned = manifest.parent / "plain.yaml"
    unpartitioned.write_text(
        manifest.read_text()
        .replace("  partitions:", "  tags:")
        .replace("{column: region, values: [eu, us, apac], chunk_dir: chunks}", "[x]")
    )
    proc = run_cli("run", str(unpartitioned), "--phase", "extract", "--partition", "eu")
    assert proc.returncode == 2 and "has no partitions block" in proc.stdout + proc.stderr
    grain = manifest.parent / "grain.yaml"
    grain.write_text(
        manifest.read_text().replace(
            "{column: region, values: [eu, us, apac], chunk_dir: chunks}", "{column: ts, grain: day}"
        )
    )
    proc = run_cli("run", str(grain), "--phase", "finalize")
    assert proc.returncode == 2 and "needs the partition keys" in proc.stdout + proc.stderr


def test_kill_9_during_an_extract_or_the_finalize_commit_loses_nothing_and_the_retry_converges(
    project: Callable[..., Path], tmp_path: Path
) -> None:
    manifest = project(CSV, PROCESS)
    root = manifest.parent
    _extract(manifest, "r5", "eu", "us")
    marker = tmp_path / "paused"
    pause = {**os.environ, "DPONE_TEST_PAUSE_FILE": str(marker)}
    # An extract killed while it writes its chunk leaves no chunk (only an ignored partial file).
    victim = subprocess.Popen(
        [*CLI, "run", str(manifest), "--run-id", "r5", "--phase", "extract", "--partition", "apac"],
        env={**pause, "DPONE_TEST_PAUSE_AT": "chunk"},
        stdout=subprocess.DEVNULL,
    )
    wait_for(marker)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not (root / "chunks" / "sales" / "r5" / "apac.json").exists()
    proc = run_cli("run", str(manifest), "--run-id", "r5", "--phase", "finalize")
    assert proc.returncode == 1 and "partition(s) apac" in proc.stdout + proc.stderr
    _extract(manifest, "r5", "apac")
    # A finalize killed inside its open transaction commits nothing and keeps the chunks.
    marker.unlink()
    victim = subprocess.Popen(
        [*CLI, "run", str(manifest), "--run-id", "r5", "--phase", "finalize"],
        env={**pause, "DPONE_TEST_PAUSE_AT": "commit"},
        stdout=subprocess.DEVNULL,
    )
    wait_for(marker)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    db = root / "wh.duckdb"
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(0,)]
    assert (root / "chunks" / "sales" / "r5" / "apac.arrow").is_file()
    report = run_json(manifest, "--run-id", "r5", "--phase", "finalize")
    assert report["result"]["inserted_rows"] == 6
    assert query(db, "SELECT count(*), count(DISTINCT id) FROM analytics.sales") == [(6, 6)]
    assert not (root / "chunks" / "sales" / "r5").exists()


INCREMENTAL = """
- name: sales
  source:
    connection: inbox
    path: data.csv
    format: csv
    incremental: {cursor: updated_at}
  sink: {connection: wh, table: analytics.sales, strategy: merge, primary_key: [id]}
  schema_contract:
    columns:
      id: {type: integer, nullable: false}
      updated_at: {type: timestamp, tz: UTC}
  partitions: {column: region, values: [eu, us], chunk_dir: chunks}
"""


def test_a_chunked_load_follows_the_cursor_and_refuses_chunks_older_than_the_state(
    project: Callable[..., Path],
) -> None:
    manifest = project(
        "id,region,updated_at\n1,eu,2026-01-01T00:00:00Z\n2,us,2026-01-02T00:00:00Z\n3,eu,2026-01-03T00:00:00Z\n",
        INCREMENTAL,
    )
    db = manifest.parent / "wh.duckdb"
    _extract(manifest, "c1", "eu", "us")
    first = run_json(manifest, "--run-id", "c1", "--phase", "finalize")
    assert first["result"]["inserted_rows"] == 3
    assert "2026-01-03T00:00:00" in first["result"]["state_after"]["cursor_value"]

    # New rows after the cursor in both partitions, one old row that the cursor must skip.
    (manifest.parent / "in" / "data.csv").write_text(
        "id,region,updated_at\n1,eu,2026-01-01T00:00:00Z\n2,us,2026-01-05T00:00:00Z\n3,eu,2026-01-03T00:00:00Z\n"
        "4,eu,2026-01-04T00:00:00Z\n5,us,2025-12-31T00:00:00Z\n"
    )
    extracted = [r["result"]["extracted_rows"] for r in _extract(manifest, "c2", "eu", "us")]
    assert extracted == [1, 1]  # only rows after the committed cursor
    second = run_json(manifest, "--run-id", "c2", "--phase", "finalize")
    assert (second["result"]["inserted_rows"], second["result"]["updated_rows"]) == (1, 1)
    assert "2026-01-05T00:00:00" in second["result"]["state_after"]["cursor_value"]
    assert query(db, "SELECT id FROM analytics.sales ORDER BY id") == [(1,), (2,), (3,), (4,)]

    # Chunks read under an older state are refused: another load committed in between.
    _extract(manifest, "c3", "eu", "us")
    (manifest.parent / "in" / "data.csv").write_text("id,region,updated_at\n6,eu,2026-02-01T00:00:00Z\n")
    run_json(manifest, "--run-id", "plain")  # an ordinary whole load moves the state
    proc = run_cli("run", str(manifest), "--run-id", "c3", "--phase", "finalize")
    assert proc.returncode == 1
    assert "committed after chunk(s) eu, us of run c3 were extracted" in proc.stdout + proc.stderr
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(3,)]


def test_overlapping_chunked_runs_without_a_cursor_each_commit(project: Callable[..., Path]) -> None:
    # A backfill's runs interleave: B extracts before A's finalize commits. Without a cursor the
    # read of B's partition does not depend on A's load, so both finalize (with a cursor, B is
    # refused: see the test above).
    manifest = project(CSV, PROCESS)
    db = manifest.parent / "wh.duckdb"
    _extract(manifest, "day_a", "eu")
    _extract(manifest, "day_b", "us")
    first = run_json(manifest, "--run-id", "day_a", "--phase", "finalize", "--chunks", "eu")
    second = run_json(manifest, "--run-id", "day_b", "--phase", "finalize", "--chunks", "us")
    assert (first["result"]["inserted_rows"], second["result"]["inserted_rows"]) == (3, 2)
    assert query(db, "SELECT id FROM analytics.sales ORDER BY id") == [(1,), (2,), (3,), (5,), (6,)]
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(2,)]
