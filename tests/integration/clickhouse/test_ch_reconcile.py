"""``dpone ops reconcile`` with ClickHouse on either side: its SQL hashes agree with DuckDB's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

import dpone_core
from tests.integration.clickhouse.conftest import ChDatabase

REPO = Path(__file__).resolve().parents[3]


def _reconcile(manifest: Path, expect: int) -> dict[str, object]:
    args = [sys.executable, "-m", "dpone_core.cli.main", "ops", "reconcile", "--manifest", str(manifest), "-s", "p"]
    done = subprocess.run([*args, "--format", "json"], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == expect, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_clickhouse_source_against_a_duckdb_target_finds_a_changed_and_a_missing_row(ch: ChDatabase) -> None:
    ch.client.command(
        "CREATE TABLE src (id Int64, amount Decimal(12, 2), at DateTime64(6, 'UTC'), note Nullable(String)) "
        "ENGINE = MergeTree ORDER BY id"
    )
    ch.client.command(
        "INSERT INTO src SELECT number, number * 1.25, toDateTime64('2026-01-01 00:00:00', 6, 'UTC') + number, "
        "if(number % 7 = 0, NULL, concat('row ', toString(number))) FROM numbers(1, 50000)"
    )
    doc = {
        "version": 1,
        "connections": {"ch": ch.profile(), "wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "processes": [{"name": "p", "source": {"connection": "ch", "table": "src"},
                       "sink": {"connection": "wh", "table": "t", "strategy": "merge", "primary_key": ["id"]}}],
    }  # fmt: skip
    m = ch.folder / "m.yaml"
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert dpone_core.run(m).passed
    green = _reconcile(m, 0)
    assert green["source_checksum"] == green["target_checksum"]
    import duckdb

    with duckdb.connect(str(ch.folder / "wh.duckdb")) as con:
        con.execute('UPDATE t SET "at" = "at" + INTERVAL 1 MICROSECOND WHERE id = 777')
        con.execute("DELETE FROM t WHERE id = 4242")
    red = _reconcile(m, 1)
    assert (red["missing_count"], red["extra_count"], red["mismatch_count"]) == (1, 0, 1)
