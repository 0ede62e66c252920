"""The dataflow runner on real CSV files and DuckDB files: order, parallelism, shards, retries, replay, trace."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from orch_project import Project, cli_env, dpone, process, query

from dpone_core.orchestration.dataflow import DataflowRunner, RunConfig, RunnerCallbacks
from dpone_core.orchestration.plan import Task
from dpone_core.orchestration.replay import ReplayRange
from dpone_core.orchestration.retry import RetryPolicy
from dpone_core.runtime.report import RunReport


class Recorder(RunnerCallbacks):
    """Timestamps of every callback, and the peak number of tasks running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.retries: list[tuple[str, int]] = []
        self.active: set[str] = set()
        self.peak = 0
        self.together: list[set[str]] = []

    def on_before(self, task: Task) -> None:
        with self.lock:
            self.started[task.id] = time.monotonic()
            self.active.add(task.id)
            self.peak = max(self.peak, len(self.active))
            self.together.append(set(self.active))

    def on_after(self, task: Task, report: RunReport) -> None:
        with self.lock:
            self.ended[task.id] = time.monotonic()
            self.active.discard(task.id)

    def on_retry(self, task: Task, report: RunReport, attempt: int, wait_seconds: float) -> None:
        with self.lock:
            self.retries.append((task.id, attempt))


def test_parallel_threads_respect_depends_on_order_waves_and_duckdb_lanes(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = project(
        [
            process("a", sink="w1"),
            process("b", sink="w2"),
            process("c", sink="w3"),
            process("after_a", sink="w2", depends_on=["a"]),
            process("first", sink="w4", orchestration={"group": "g", "execution_order": 1}),
            process("second", sink="w5", orchestration={"group": "g", "execution_order": 2}),
            process("shared1", sink="w6"),
            process("shared2", sink="w6"),
        ],
        sinks=("w1", "w2", "w3", "w4", "w5", "w6"),
    )
    monkeypatch.setenv("DPONE_TEST_PAUSE_AT", "stage")  # every load holds for a moment inside its stage step
    monkeypatch.setenv("DPONE_TEST_PAUSE_SECONDS", "0.3")
    recorder = Recorder()
    clock = time.monotonic()
    result = DataflowRunner(manifest, RunConfig(max_workers=3), callbacks=recorder).run()
    elapsed = time.monotonic() - clock
    assert (result.total, result.succeeded, result.failed, result.skipped) == (8, 8, 0, 0), result.to_text()
    assert 2 <= recorder.peak <= 3  # parallel, never above max_workers
    assert elapsed < 8 * 0.3 + 1.5  # clearly less than one after another
    assert recorder.started["after_a"] >= recorder.ended["a"]
    assert recorder.started["second"] >= recorder.ended["first"]
    assert not any({"shared1", "shared2"} <= group for group in recorder.together)  # one DuckDB file, one writer
    for name in ("a", "b", "after_a", "shared1", "shared2"):
        database = {"a": "w1", "b": "w2", "after_a": "w2"}.get(name, "w6")
        assert query(tmp_path / f"{database}.duckdb", f"SELECT count(*) FROM main.{name}") == [(200,)]


def test_many_processes_on_one_new_duckdb_file_all_commit(project: Project, tmp_path: Path) -> None:
    manifest = project([process(f"t{i}", table=f"analytics.t{i}") for i in range(5)])
    result = DataflowRunner(manifest, RunConfig(max_workers=5)).run()
    assert result.succeeded == 5, result.to_text()
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM __dpone__loads") == [(5,)]


def test_shards_split_the_job_so_each_process_loads_exactly_once(project: Project, tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(7)]
    manifest = project([process(n, sink=f"db_{n}") for n in names], sinks=tuple(f"db_{n}" for n in names), rows=20)
    ran: list[str] = []
    for index in range(3):
        result = DataflowRunner(manifest, RunConfig(job_id="sharded", job_num=3, job_index=index)).run()
        assert result.failed == 0 and set(result.other_shards).isdisjoint(result.reports)
        ran += list(result.reports)
    assert sorted(ran) == names
    for name in names:
        assert query(tmp_path / f"db_{name}.duckdb", "SELECT count(*) FROM __dpone__loads") == [(1,)]


def test_dry_run_reads_and_writes_nothing(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a"), process("b", depends_on=["a"])])
    DataflowRunner(manifest, RunConfig(job_id="real")).run(selector="a")
    before = hashlib.sha256((tmp_path / "wh.duckdb").read_bytes()).hexdigest()
    (tmp_path / "data/a.csv").unlink()  # nothing may be read either
    result = DataflowRunner(manifest, RunConfig(dry_run=True)).run()
    assert (result.total, result.skipped, result.failed) == (2, 2, 0) and result.exit_code == 0
    assert {r.status for r in result.reports.values()} == {"planned"}
    assert any("b; needs a" in line for line in result.plan)
    assert hashlib.sha256((tmp_path / "wh.duckdb").read_bytes()).hexdigest() == before
    assert not (tmp_path / "wh.duckdb.wal").exists()


def test_stop_on_error_starts_nothing_after_the_first_failure(project: Project, tmp_path: Path) -> None:
    manifest = project([process("broken", path="missing/*.csv"), process("b"), process("c")])
    result = DataflowRunner(manifest, RunConfig(max_workers=1, stop_on_error=True)).run()
    assert (result.failed, result.skipped, result.succeeded) == (1, 2, 0)
    assert "stop_on_error" in result.reports["b"].result.warnings[0] and result.exit_code == 1
    assert not query(tmp_path / "wh.duckdb", "SELECT * FROM information_schema.tables WHERE table_name = 'b'")
    carry_on = DataflowRunner(manifest, RunConfig(max_workers=1)).run()
    assert (carry_on.failed, carry_on.succeeded) == (1, 2)


def test_a_failed_upstream_skips_its_downstream(project: Project) -> None:
    manifest = project([process("broken", path="missing/*.csv"), process("child", depends_on=["broken"])])
    result = DataflowRunner(manifest).run()
    assert result.reports["child"].status == "skipped" and result.skipped == 1 and result.failed == 1
    assert "upstream broken did not pass" in result.reports["child"].result.warnings[0]


def test_terminal_errors_are_not_retried(project: Project) -> None:
    manifest = project([process("broken", path="missing/*.csv")])
    recorder = Recorder()
    policy = RetryPolicy("fixed", 4, wait_seconds=0)
    result = DataflowRunner(manifest, RunConfig(retry=policy), callbacks=recorder).run()
    assert result.attempts["broken"] == 1 and recorder.retries == []
    assert result.reports["broken"].result.errors[0].code == "DPONE_TERMINAL"


_HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); open(sys.argv[2], 'w').close(); time.sleep(1.5)"


def _hold_duckdb(database: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    marker = tmp_path / "holding"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(database), str(marker)], env=cli_env())
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the holder did not open the database"
        time.sleep(0.02)
    return holder


def test_a_locked_duckdb_file_is_retried_until_it_frees_but_only_in_chosen_steps(
    project: Project, tmp_path: Path
) -> None:
    manifest = project([process("orders")])
    holder = _hold_duckdb(tmp_path / "wh.duckdb", tmp_path)
    try:
        load_only = RetryPolicy("fixed", 20, wait_seconds=0.1, steps=("load",))
        refused = DataflowRunner(manifest, RunConfig(retry=load_only, job_id="j1")).run()
        assert refused.attempts["orders"] == 1  # the lock is hit while connecting, not loading
        assert refused.reports["orders"].result.errors[0].code == "DPONE_ALREADY_RUNNING"
        recorder = Recorder()
        patient = RetryPolicy("fixed", 60, wait_seconds=0.1, steps=("connect",))
        result = DataflowRunner(manifest, RunConfig(retry=patient, job_id="j2"), callbacks=recorder).run()
    finally:
        holder.wait(timeout=60)
    assert result.succeeded == 1 and result.attempts["orders"] > 1, result.to_text()
    assert recorder.retries and recorder.retries[0] == ("orders", 1)
    assert result.reports["orders"].attempts == result.attempts["orders"]


def test_replay_in_monthly_chunks_equals_one_full_load_and_is_idempotent(project: Project, tmp_path: Path) -> None:
    manifest = project(
        [
            process(
                "chunked",
                path="events.csv",
                strategy="partition_replace",
                partitions={"column": "ts", "grain": "month", "start": "2024-01-01"},
            ),
            process("full", path="events.csv"),
        ],
        rows=900,
    )
    runner = DataflowRunner(manifest, RunConfig(job_id="replay1"))
    replay = runner.run_replay(ReplayRange("2024-01", "2024-03"), selector="chunked")
    assert list(replay.reports) == ["chunked@2024-01", "chunked@2024-02", "chunked@2024-03"]
    assert replay.succeeded == 3, replay.to_text()
    assert DataflowRunner(manifest).run(selector="full").succeeded == 1
    database = tmp_path / "wh.duckdb"
    chunked = query(database, "SELECT id, amount, ts FROM main.chunked ORDER BY id")
    assert len(chunked) == 900 and chunked == query(database, "SELECT id, amount, ts FROM main.full ORDER BY id")
    loads = query(
        database,
        "SELECT partition_key, rows_inserted FROM __dpone__loads WHERE process = 'chunked' ORDER BY partition_key",
    )
    assert [k for k, _ in loads] == ["2024-01", "2024-02", "2024-03"] and sum(n for _, n in loads) == 900
    again = DataflowRunner(manifest, RunConfig(job_id="replay1")).run_replay(
        ReplayRange("2024-01", "2024-03"), selector="chunked"
    )
    assert {r.status for r in again.reports.values()} == {"skipped"}  # already committed
    assert (again.succeeded, again.skipped) == (0, 3)
    assert len(query(database, "SELECT * FROM __dpone__loads WHERE process = 'chunked'")) == 3


def test_trace_rows_and_maintenance(project: Project, tmp_path: Path) -> None:
    manifest = project([process("good"), process("bad", path="missing/*.csv")], name="sales")
    config = RunConfig(
        job_id="traced", store_trace=True, maintenance=True, retry=RetryPolicy("fixed", 2, wait_seconds=0)
    )
    result = DataflowRunner(manifest, config).run()
    assert result.trace is not None and result.trace["passed"], result.trace
    assert result.maintenance == [
        {
            "connection": "wh",
            "type": "duckdb",
            "status": "done",
            "statements": ["CHECKPOINT"],
            "seconds": result.maintenance[0]["seconds"],
            "error": None,
            "tables": ["main.good"],
        }
    ]
    rows = query(
        tmp_path / "wh.duckdb",
        "SELECT task, attempt, status, inserted_rows, step_seconds, errors, schema_changes, job_id "
        "FROM sales_trace ORDER BY task",
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("bad", 1, "failed", 0), ("good", 1, "succeeded", 200)]
    assert json.loads(rows[0][5])[0].startswith("[DPONE_TERMINAL]")
    assert {"extract", "stage", "finalize"} <= set(json.loads(rows[1][4]))
    assert json.loads(rows[1][6])[0].startswith("CREATE TABLE") and rows[1][7] == "traced"


def test_stage_cli_json_and_exit_codes(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a", tags=["bronze"]), process("b", tags=["silver"])])
    done = dpone(
        "orchestrate",
        "stage",
        manifest.name,
        "--stage",
        "bronze",
        "--format",
        "json",
        "--output-dir",
        "out",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["total"], document["succeeded"]) == (1, 1) and list(document["reports"]) == ["a"]
    assert (tmp_path / "out/execution_result.md").exists()
    bad = dpone("orchestrate", "stage", manifest.name, "--stage", "gold", cwd=tmp_path)
    assert bad.returncode == 2 and "no process carries the stage tag" in bad.stderr


def test_the_live_table_shows_every_task_with_its_final_status(project: Project) -> None:
    import io

    from rich.console import Console

    from dpone_core.orchestration.live import LiveJobTable

    manifest = project([process("a"), process("broken", path="missing/*.csv")])
    runner = DataflowRunner(manifest)
    plan = runner.plan()
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    table = LiveJobTable(console, plan)
    runner.callbacks = table
    with table:
        runner.execute(plan, on_event=table.on_event)
    console.print(table.render())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "succeeded" in text and "failed" in text and "200" in text
    assert table.rows["a"].phase in {"finalize", "evidence"} and table.rows["broken"].attempts == 1


def test_column_name_mode_renames_every_process(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a"), process("b")], rows=3)
    (tmp_path / "data" / "a.csv").write_text("ID,Day,Amount\n1,2024-01-01,1.0\n")
    result = DataflowRunner(manifest, RunConfig(column_name_mode="lower")).run()
    assert result.succeeded == 2, result.to_text()
    columns = query(tmp_path / "wh.duckdb", "SELECT column_name FROM information_schema.columns WHERE table_name='a'")
    assert [c for (c,) in columns] == ["id", "day", "amount"]


@pytest.mark.parametrize(
    "stages",
    ["ingest2bronze", "ingest2bronze, silver", ["ingest2bronze"], ["gold,ingest2bronze"]],
)
def test_stages_accept_a_name_a_comma_separated_string_and_a_list(project: Project, stages: object) -> None:
    manifest = project([process("a", tags=["ingest2bronze"]), process("b", tags=["silver"]), process("c")])
    plan = DataflowRunner(manifest, RunConfig(dry_run=True)).plan(stages=stages)  # type: ignore[arg-type]
    names = {task.process.name for task in plan.tasks}
    assert names == ({"a", "b"} if "silver" in str(stages) else {"a"})


def test_an_unknown_trace_connection_fails_before_anything_runs(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a")])
    done = dpone("orchestrate", "stage", manifest.name, "--trace", "--trace-connection", "nosuch", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--trace-connection 'nosuch' is not a connection of the manifest" in done.stderr
    assert not (tmp_path / "wh.duckdb").exists()  # nothing was loaded


def test_a_trace_that_cannot_be_stored_fails_the_job(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a")], sinks=("wh", "broken"))
    (tmp_path / "broken.duckdb").mkdir()  # a folder where the trace's DuckDB file should be: it cannot open
    done = dpone("orchestrate", "stage", manifest.name, "--trace", "--trace-connection", "broken", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "trace: failed" in done.stdout and "error:" in done.stdout.split("trace:")[1]


def test_a_trace_into_a_files_connection_is_a_parquet_table(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a")], name="sales")
    result = DataflowRunner(manifest, RunConfig(job_id="t", store_trace=True, trace_connection="inbox")).run()
    assert result.passed and result.trace is not None and result.trace["rows"] == 1, result.to_text()
    assert list((tmp_path / "data" / "sales_trace" / "data").glob("load=*/*.parquet"))


def test_a_rerun_of_a_committed_job_counts_its_tasks_as_skipped(project: Project, tmp_path: Path) -> None:
    manifest = project([process("a"), process("b")])
    first = DataflowRunner(manifest, RunConfig(job_id="again")).run()
    assert (first.succeeded, first.skipped) == (2, 0)
    second = DataflowRunner(manifest, RunConfig(job_id="again")).run()
    assert {r.status for r in second.reports.values()} == {"skipped"}
    assert (second.succeeded, second.skipped, second.failed, second.exit_code) == (0, 2, 0, 0)
