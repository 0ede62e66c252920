"""Exit codes, fail-closed behaviour, idempotent run ids, retries and crash safety, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.e2e.conftest import CLI, query, run_cli, run_json, wait_for

MERGE = """
- name: p
  source: {connection: inbox, path: data.csv, format: csv}
  sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
  schema_contract:
    enforcement: strict
    columns:
      id: {type: int64}
      v: {type: string, allowed: [a, b, c, d]}
"""


def state_and_rows(manifest: Path) -> tuple[list, list]:
    db = manifest.parent / "wh.duckdb"
    return (
        query(db, "SELECT process, cursor_value, load_id FROM __dpone__state"),
        query(db, "SELECT * FROM t ORDER BY id"),
    )


def test_exit_2_for_manifest_errors(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE.replace("strategy: merge", "strategy: merge, optoins: {}"))
    proc = run_cli("run", str(manifest))
    assert proc.returncode == 2
    assert "unknown key 'optoins'; did you mean 'options'?" in proc.stdout
    assert not (manifest.parent / "wh.duckdb").exists()
    validate = run_cli("manifest", "validate", str(manifest))
    assert validate.returncode == 2 and "did you mean 'options'" in validate.stderr


def test_exit_2_for_unknown_selector_and_missing_env(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    assert run_cli("run", str(manifest), "--selector", "nope").returncode == 2
    text = manifest.read_text().replace("path: wh.duckdb", 'path: "${env:DPONE_TEST_UNSET_PATH}"')
    manifest.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "DPONE_TEST_UNSET_PATH"}
    proc = run_cli("run", str(manifest), env=env)
    assert proc.returncode == 2 and "DPONE_TEST_UNSET_PATH is not set" in proc.stdout


def test_strict_violation_exits_1_and_leaves_target_and_state(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n2,b\n", MERGE)
    run_json(manifest)
    before = state_and_rows(manifest)
    (manifest.parent / "in" / "data.csv").write_text("id,v\n1,z\n3,c\n")
    report = run_json(manifest, expect=1)
    assert report["status"] == "failed"
    assert report["result"]["errors"][0]["code"] == "DPONE_CONTRACT_VIOLATION"
    assert "v.allowed" in report["result"]["errors"][0]["line"]
    verdicts = {g["rule"]: g["verdict"] for g in report["result"]["gates"] if g["gate"] == "contract"}
    assert verdicts["v.allowed"] == "failed" and verdicts["id.type"] == "passed"
    assert state_and_rows(manifest) == before
    assert query(manifest.parent / "wh.duckdb", "SELECT count(*) FROM __dpone__loads") == [(1,)]
    # No quarantine file for a load that did not commit.
    assert not list((manifest.parent / "quarantine").rglob("*.parquet"))


def test_duplicate_keys_fail_strict_and_quarantine_otherwise(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n1,b\n2,c\n", MERGE)
    report = run_json(manifest, expect=1)
    assert "repeat the key (id)" in report["result"]["errors"][0]["line"]
    manifest.write_text(manifest.read_text().replace("enforcement: strict", "enforcement: quarantine"))
    result = run_json(manifest)["result"]
    assert (result["inserted_rows"], result["quarantined_rows"]) == (2, 1)
    assert query(manifest.parent / "wh.duckdb", "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (2, "c")]


def test_committed_run_id_is_a_noop_unless_restarted(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    assert run_json(manifest, "--run-id", "r1")["result"]["inserted_rows"] == 1
    (manifest.parent / "in" / "data.csv").write_text("id,v\n1,a\n2,b\n")
    again = run_json(manifest, "--run-id", "r1")
    assert again["status"] == "skipped" and again["passed"]
    assert query(manifest.parent / "wh.duckdb", "SELECT count(*) FROM t") == [(1,)]
    restarted = run_json(manifest, "--run-id", "r1", "--restart")
    assert restarted["result"]["inserted_rows"] == 1


def test_terminal_error_is_not_retried(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE.replace("path: data.csv", "path: absent*.csv"))
    report = run_json(manifest, "--retry-attempts", "3", "--retry-backoff-seconds", "0", expect=1)
    assert (report["attempts"], report["max_attempts"]) == (1, 4)
    assert "no files match" in report["result"]["errors"][0]["line"]


def test_transient_lock_is_retried(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    db = manifest.parent / "wh.duckdb"
    duckdb.connect(str(db)).close()
    # Another process holds the DuckDB file until the run has failed once and announced its retry.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(db)!r}); print('held', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    retry = ["--retry-attempts", "5", "--retry-backoff-seconds", "0.5", "--retry-backoff", "fixed"]
    run = subprocess.Popen(
        [*CLI, "run", str(manifest), "--format", "json", *retry],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    first_failure = run.stderr.readline()
    holder.communicate("release\n", timeout=30)
    out, _ = run.communicate(timeout=120)
    assert "DPONE_ALREADY_RUNNING" in first_failure and "retrying in 0.5s" in first_failure
    report = json.loads(out)
    assert report["passed"] and report["attempts"] >= 2 and report["result"]["inserted_rows"] == 1


def test_kill_9_during_finalize_leaves_old_target_and_state(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project("id,v\n1,a\n2,b\n", MERGE)
    run_json(manifest)
    before = state_and_rows(manifest)
    (manifest.parent / "in" / "data.csv").write_text("id,v\n1,c\n2,b\n3,d\n")
    marker = tmp_path / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "commit", "DPONE_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen([*CLI, "run", str(manifest)], env=env, stdout=subprocess.DEVNULL)
    wait_for(marker)  # paused inside the open transaction: strategy applied, evidence written, not committed
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert state_and_rows(manifest) == before
    db = manifest.parent / "wh.duckdb"
    assert query(db, "SELECT count(*) FROM __dpone__loads") == [(1,)]
    # The next run converges and commits the new data; the killed run's staged files are removed.
    run_json(manifest)
    assert not list((manifest.parent / "wh.duckdb.dpone_staging").iterdir())
    assert query(db, "SELECT id, v FROM t ORDER BY id") == [(1, "c"), (2, "b"), (3, "d")]
    assert query(db, "SELECT count(*) FROM information_schema.tables WHERE table_schema='__dpone_staging'") == [(0,)]


def test_sigint_exits_130_and_rolls_back(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    run_json(manifest)
    before = state_and_rows(manifest)
    (manifest.parent / "in" / "data.csv").write_text("id,v\n1,b\n")
    marker = tmp_path / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "finalize", "DPONE_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen([*CLI, "run", str(manifest)], env=env, stdout=subprocess.PIPE, text=True)
    wait_for(marker)
    victim.send_signal(signal.SIGINT)
    out, _ = victim.communicate(timeout=60)
    assert victim.returncode == 130, out
    assert "DPONE_INTERRUPTED" in out
    assert state_and_rows(manifest) == before


def test_new_source_column_is_added_and_key_kept(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    run_json(manifest)
    (manifest.parent / "in" / "data.csv").write_text("id,v,extra\n1,a,x\n2,b,y\n")
    report = run_json(manifest)
    assert report["result"]["ddl"] == ['ALTER TABLE "t" ADD COLUMN "extra" VARCHAR']
    db = manifest.parent / "wh.duckdb"
    assert query(db, "SELECT id, v, extra FROM t ORDER BY id") == [(1, "a", "x"), (2, "b", "y")]
    key = query(
        db,
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type='PRIMARY KEY'"
        " AND table_name='t'",
    )
    assert key == [(["id"],)]
    # Dropping the column again keeps it (loaded as NULL) and still passes.
    (manifest.parent / "in" / "data.csv").write_text("id,v\n3,c\n")
    assert run_json(manifest)["result"]["inserted_rows"] == 1
    evolution = [g for g in run_json(manifest)["result"]["gates"] if g["gate"] == "evolution"]
    assert {"rule": "removed_columns", "verdict": "skipped"}.items() <= evolution[0].items()


def test_json_mode_prints_only_json(project: Callable[..., Path]) -> None:
    manifest = project("id,v\n1,a\n", MERGE)
    proc = run_cli("run", str(manifest), "--format", "json")
    assert json.loads(proc.stdout)["passed"] is True


def test_quarantine_file_of_a_killed_load_is_removed(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project("id,v\n1,a\n2,zz\n", MERGE.replace("enforcement: strict", "enforcement: quarantine"))
    marker = tmp_path / "paused"
    env = {**os.environ, "DPONE_TEST_PAUSE_AT": "commit", "DPONE_TEST_PAUSE_FILE": str(marker)}
    victim = subprocess.Popen([*CLI, "run", str(manifest)], env=env, stdout=subprocess.DEVNULL)
    wait_for(marker)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    orphans = list((manifest.parent / "quarantine" / "p").glob("*.parquet"))
    assert len(orphans) == 1  # written before the commit that never happened
    report = run_json(manifest)
    assert any("did not commit" in w for w in report["result"]["warnings"])
    files = list((manifest.parent / "quarantine" / "p").glob("*.parquet"))
    assert [f.stem for f in files] == [report["load_id"]]


def test_a_run_keeps_the_committed_quarantine_files_of_another_target(project: Callable[..., Path]) -> None:
    quarantining = MERGE.replace("enforcement: strict", "enforcement: quarantine")
    first = project("id,v\n1,a\n2,zz\n", quarantining)
    kept = run_json(first)["result"]["quarantine_paths"]
    assert len(kept) == 1
    # The same manifest into another warehouse, with the same quarantine folder.
    other = first.with_name("other.yaml")
    other.write_text(first.read_text().replace("wh.duckdb", "other.duckdb"), encoding="utf-8")
    report = run_json(other)
    assert not any("did not commit" in w for w in report["result"]["warnings"])
    folder = first.parent / "quarantine" / "p"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [Path(kept[0]).name, Path(report["result"]["quarantine_paths"][0]).name]
    )  # both files, and no owner marker once each load committed
