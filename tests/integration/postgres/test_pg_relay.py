"""Postgres -> Postgres binary relay: the source's COPY bytes piped into the target, gates as SQL in the commit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.postgres.conftest import REPO, PgDatabase, run_cli, run_ok, spawn_cli, wait_for_pause

pytestmark = pytest.mark.integration

COLUMNS = """id bigint PRIMARY KEY, n int NOT NULL, amount numeric(18, 2), ratio double precision,
  label varchar(40), body text, at timestamptz, day date, flag boolean, uid uuid, doc jsonb, raw bytea"""
VALUES = """INSERT INTO src SELECT g, g % 7, g / 100.0, g / 3.0, 'L' || g,
  CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN E'a,b "q" \\\\ \\t tab\\nnew line' WHEN 3 THEN 'ünï 😀'
  ELSE 'plain' END, '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', DATE '2026-01-01' + g % 400,
  g % 2 = 0, md5(g::text)::uuid, jsonb_build_object('k', g), decode(md5(g::text), 'hex')
  FROM generate_series(1, {rows}) g"""


def _process(contract: dict[str, Any] | None = None, **source: Any) -> dict[str, Any]:
    process: dict[str, Any] = {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", **source},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": "full_refresh", "primary_key": ["id"]},
    }
    if contract is not None:
        process["schema_contract"] = contract
    return process


def _source(pg: PgDatabase, rows: int) -> None:
    pg.sql(f"CREATE TABLE src ({COLUMNS})")
    pg.sql(VALUES.format(rows=rows))


READING = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (%' "
    "AND datname = current_database() AND pid <> pg_backend_pid()"
)
"""The relay's reading session (its COPY out), if one is open."""


def _no_reading_session(pg: PgDatabase) -> None:
    deadline = time.monotonic() + 20
    while pg.sql(READING) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pg.sql(READING) == [(0,)]


def _paused_reload(
    pg: PgDatabase, tmp_path: Path, rows: int, *args: str, seconds: str = "60"
) -> tuple[Path, dict[str, Any] | None, subprocess.Popen[str]]:
    """Load ``rows`` once, change every source row, start a second run and wait until it is mid-relay.

    Returns the manifest, the state after the first load and the paused run.
    """
    _source(pg, rows)
    manifest = pg.manifest([_process()])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql("UPDATE src SET body = 'changed'")
    marker = tmp_path / "paused"
    env = {"DPONE_TEST_PAUSE_AT": "copy", "DPONE_TEST_PAUSE_FILE": str(marker), "DPONE_TEST_PAUSE_SECONDS": seconds}
    proc = spawn_cli(manifest, *args, env=env)
    wait_for_pause(marker, proc)
    return manifest, state, proc


def _same_rows(pg: PgDatabase) -> bool:
    """dst holds exactly src's rows (every column compared, duplicates counted)."""
    missing = pg.sql("SELECT count(*) FROM (TABLE src EXCEPT ALL TABLE dst) a")
    extra = pg.sql("SELECT count(*) FROM (TABLE dst EXCEPT ALL TABLE src) b")
    return missing == extra == [(0,)]


CONTRACT = {
    "enforcement": "strict",
    "columns": {
        "id": {"type": "int64", "nullable": False},
        "amount": {"type": "decimal", "precision": 18, "scale": 2, "min": 0},
        "label": {"type": "string", "max_length": 40, "nullable": False},
        "flag": {"type": "boolean"},
        "n": {"allowed": [0, 1, 2, 3, 4, 5, 6]},
    },
}


def test_relay_loads_a_new_then_the_loaded_target_byte_for_byte(pg: PgDatabase) -> None:
    _source(pg, 5000)
    manifest = pg.manifest([_process(CONTRACT)])
    first = run_ok(manifest)
    assert first.result.write_path == "relay"
    assert (first.result.extracted_rows, first.result.inserted_rows) == (5000, 5000)
    assert _same_rows(pg)
    assert all(g.verdict == "passed" for g in first.result.gates if g.gate == "contract")
    # The target keeps the source's own types (varchar became text: the Arrow path's choice too).
    types = dict(
        pg.sql(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'public.dst'::regclass AND attnum > 0"
        )
    )
    assert types["amount"] == "numeric(18,2)" and types["at"] == "timestamp with time zone"
    pg.sql("UPDATE src SET body = 'changed' WHERE id <= 10; DELETE FROM src WHERE id > 4000")
    second = run_ok(manifest)
    assert second.result.write_path == "relay"
    assert (second.result.deleted_rows, second.result.inserted_rows) == (5000, 4000)
    assert _same_rows(pg)
    assert pg.loads("p") == 2 and pg.staging_tables() == []
    assert pg.state("p")["load_id"] == second.load_id


def test_relay_and_arrow_paths_write_the_same_rows(pg: PgDatabase) -> None:
    _source(pg, 3000)
    relayed = run_ok(pg.manifest([_process(CONTRACT)]))
    pg.sql("ALTER TABLE dst RENAME TO dst_relay")
    arrow = json.loads(json.dumps(CONTRACT))
    arrow["columns"]["label"]["regex"] = "^L"  # a regex has no exact SQL form: the Arrow path
    other = run_ok(pg.manifest([_process(arrow)]), restart=True)
    assert (relayed.result.write_path, other.result.write_path) == ("relay", "direct")
    assert pg.sql("SELECT count(*) FROM (TABLE dst_relay EXCEPT ALL TABLE dst) a") == [(0,)]
    assert pg.sql("SELECT count(*) FROM dst") == [(3000,)]


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ("UPDATE src SET amount = -1 WHERE id = 77", "DPONE_CONTRACT_VIOLATION", "amount.min"),
        ("UPDATE src SET n = 9 WHERE id = 77", "DPONE_CONTRACT_VIOLATION", "n.allowed"),
        ("UPDATE src SET amount = 'NaN' WHERE id = 77", None, "amount"),
        ("UPDATE src SET at = 'infinity' WHERE id = 77", None, "at"),
    ],
)
def test_a_row_the_gates_reject_fails_the_run_as_on_the_arrow_path(
    pg: PgDatabase, change: str, code: str | None, words: str
) -> None:
    _source(pg, 2000)
    manifest = pg.manifest([_process(CONTRACT)])
    run_ok(manifest)
    state = pg.state("p")
    pg.sql(change)
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["result"]["errors"][0]
    assert words in error["message"]
    if code:
        assert error["code"] == code
    # The old rows, state and audit stay; nothing is left behind.
    assert pg.sql("SELECT count(*) FROM dst") == [(2000,)]
    assert pg.sql("SELECT count(*) FROM dst WHERE id = 77 AND amount = 0.77 AND n = 0") == [(1,)]
    assert pg.state("p") == state and pg.loads("p") == 1 and pg.staging_tables() == []


def test_relay_declines_a_target_of_other_types_and_the_arrow_path_loads_it(pg: PgDatabase) -> None:
    _source(pg, 500)
    pg.sql(f"CREATE TABLE dst ({COLUMNS.replace('n int NOT NULL', 'n bigint NOT NULL')})")
    report = run_ok(pg.manifest([_process()]))
    assert report.result.write_path == "direct"
    assert pg.sql("SELECT count(*), sum(n) FROM dst") == pg.sql("SELECT count(*), sum(n) FROM src")


@pytest.mark.parametrize(
    "variant",
    ["quarantine", "cursor", "query"],
)
def test_loads_the_relay_cannot_check_take_the_arrow_path(pg: PgDatabase, variant: str) -> None:
    _source(pg, 300)
    if variant == "quarantine":
        process = _process({"enforcement": "quarantine", "columns": {"amount": {"min": 0}}})
    elif variant == "cursor":
        process = _process(incremental={"cursor": "at"})
        process["sink"]["strategy"] = "merge"
    else:
        process = _process()
        process["source"] = {"connection": "pg", "query": "SELECT * FROM src"}
    report = run_ok(pg.manifest([process]))
    assert report.result.write_path == "direct"
    assert _same_rows(pg)


def test_kill_9_mid_relay_keeps_target_and_state_and_leaves_no_session(pg: PgDatabase, tmp_path: Path) -> None:
    manifest, state, proc = _paused_reload(pg, tmp_path, 20000)
    locks = pg.sql(
        "SELECT mode FROM pg_locks WHERE relation = 'public.dst'::regclass AND granted AND pid <> pg_backend_pid()"
    )
    assert ("AccessExclusiveLock",) in locks
    assert pg.sql(READING) == [(1,)]  # the reading process's session
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _no_reading_session(pg)  # the reading process sees its parent gone and ends
    assert pg.sql("SELECT count(*) FILTER (WHERE body = 'changed') FROM dst") == [(0,)]
    assert pg.state("p") == state and pg.loads("p") == 1
    report = run_ok(manifest)
    assert report.result.write_path == "relay" and _same_rows(pg)


def test_a_source_failing_mid_relay_fails_the_run_and_commits_nothing(pg: PgDatabase, tmp_path: Path) -> None:
    _manifest, state, proc = _paused_reload(pg, tmp_path, 300_000, "--format", "json", seconds="2")
    killed = pg.sql(READING.replace("count(*)", "pg_terminate_backend(pid)"))
    assert killed == [(True,)]
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    error = json.loads(out)["result"]["errors"][0]
    assert error["step"] == "extract" and "postgres:" in error["message"]
    assert pg.sql("SELECT count(*), count(*) FILTER (WHERE body = 'changed') FROM dst") == [(300_000, 0)]
    assert pg.state("p") == state and pg.loads("p") == 1


def test_ctrl_c_mid_relay_rolls_back_and_exits_130(pg: PgDatabase, tmp_path: Path) -> None:
    _manifest, state, proc = _paused_reload(pg, tmp_path, 20000)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert pg.sql("SELECT count(*) FILTER (WHERE body = 'changed') FROM dst") == [(0,)]
    assert pg.state("p") == state and pg.loads("p") == 1
    _no_reading_session(pg)


@pytest.mark.parametrize(
    ("column", "value", "rule", "words"),
    [
        ("ratio", "-0", {"allowed": [0.0, 1.5]}, "ratio.allowed"),  # Arrow tells -0.0 from 0.0
        ("at", "294270-01-01 00:00:00+00", None, "at"),  # past Arrow's microsecond range
    ],
)
def test_values_only_arrow_refuses_fail_the_run_as_on_the_arrow_path(
    pg: PgDatabase, column: str, value: str, rule: dict[str, Any] | None, words: str
) -> None:
    _source(pg, 100)
    pg.sql("UPDATE src SET ratio = 1.5")  # every other row passes the allowed rule
    pg.sql(f"UPDATE src SET {column} = %s WHERE id = 7", (value,))
    contract = {"enforcement": "strict", "columns": {column: rule}} if rule else None
    result = run_cli(pg.manifest([_process(contract)]), "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert words in json.loads(result.stdout)["result"]["errors"][0]["message"]
    assert pg.sql("SELECT to_regclass('public.dst')") == [(None,)] and pg.loads("p") == 0


def test_a_target_with_triggers_takes_the_arrow_path_whose_gates_judge_the_source_rows(pg: PgDatabase) -> None:
    _source(pg, 100)
    manifest = pg.manifest([_process({"enforcement": "strict", "columns": {"n": {"max": 5}}})])
    pg.sql("UPDATE src SET n = 5 WHERE n = 6")
    run_ok(manifest)
    # A trigger that clamps values on their way in would hide a violation from checks on the target.
    pg.sql(
        "CREATE FUNCTION clamp() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.n := least(NEW.n, 5); RETURN NEW; END $$; "
        "CREATE TRIGGER clamp BEFORE INSERT ON dst FOR EACH ROW EXECUTE FUNCTION clamp()"
    )
    pg.sql("UPDATE src SET n = 9 WHERE id = 3")
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "n.max" in json.loads(result.stdout)["result"]["errors"][0]["message"]
    pg.sql("UPDATE src SET n = 1 WHERE id = 3")
    report = run_ok(manifest)
    assert report.result.write_path == "direct" and _same_rows(pg)


def test_a_reading_session_refused_by_the_connection_limit_falls_back_to_the_arrow_path(pg: PgDatabase) -> None:
    _source(pg, 1000)
    role = f"lim_{pg.name}"[:60]
    pg.sql(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (pg.server.password,))
    try:
        pg.sql(f'GRANT ALL ON SCHEMA public TO "{role}"; GRANT CREATE ON DATABASE "{pg.name}" TO "{role}"')
        pg.sql(f'ALTER TABLE src OWNER TO "{role}"')
        manifest = pg.manifest([_process()], connections={"pg": pg.profile(user=role)})
        # Find the smallest limit the Arrow path runs with (sessions: control, ADBC, per end).
        for limit in range(2, 9):
            pg.sql(f'ALTER ROLE "{role}" CONNECTION LIMIT {limit}')
            result = run_cli(manifest, "--format", "json", "--restart")
            if result.returncode == 0:
                break
        report = json.loads(result.stdout)["result"]
        assert result.returncode == 0, result.stdout + result.stderr
        assert _same_rows(pg)
        # At that limit the relay's extra session is refused and the run goes on without it.
        assert report["write_path"] == "direct"
        pg.sql(f'ALTER ROLE "{role}" CONNECTION LIMIT {limit + 1}')
        result = run_cli(manifest, "--format", "json", "--restart")
        assert result.returncode == 0 and json.loads(result.stdout)["result"]["write_path"] == "relay"
    finally:
        pg.sql(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


def test_ctrl_c_while_the_target_waits_on_a_lock_cancels_the_copy_and_exits_130(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE ref (id int PRIMARY KEY); INSERT INTO ref SELECT g FROM generate_series(1, 20000) g")
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, r int, pad text)")
    pg.sql("INSERT INTO src SELECT g, g, repeat('x', 400) FROM generate_series(1, 20000) g")
    pg.sql("CREATE TABLE dst (id int PRIMARY KEY, r int REFERENCES ref, pad text)")
    manifest = pg.manifest([_process()])
    holder = pg.connect()
    holder.autocommit = False
    try:
        holder.cursor().execute("LOCK TABLE ref IN ACCESS EXCLUSIVE MODE")  # the FK check waits on it
        proc = spawn_cli(manifest)
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'COPY%FROM STDIN%'"
        )
        deadline = time.monotonic() + 60
        while pg.sql(waiting) != [(1,)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pg.sql(waiting) == [(1,)]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, out + err
    finally:
        holder.rollback()
        holder.close()
    assert pg.sql("SELECT count(*) FROM dst") == [(0,)] and pg.loads("p") == 0
    _no_reading_session(pg)


def test_a_target_database_in_another_encoding_takes_the_arrow_path(pg: PgDatabase) -> None:
    # "C" collation orders a WIN1251 database's bytes, not UTF-8's as Arrow does: ё < я there.
    other = f"{pg.name}_w"
    pg.sql(f"CREATE DATABASE \"{other}\" ENCODING 'WIN1251' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        # Cyrillic a, yo, be; the bound is ya (escaped: the letters look like Latin ones).
        pg.sql("CREATE TABLE src (id int PRIMARY KEY, t text)")
        pg.sql("INSERT INTO src VALUES (1, %s), (2, %s), (3, %s)", ("\u0430", "\u0451", "\u0431"))
        process = _process({"enforcement": "strict", "columns": {"t": {"max": "\u044f"}}})
        process["sink"]["connection"] = "win"
        manifest = pg.manifest([process], connections={"win": pg.profile(database=other)})
        result = run_cli(manifest, "--format", "json")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "t.max" in json.loads(result.stdout)["result"]["errors"][0]["message"]
        pg.sql("UPDATE src SET t = %s WHERE id = 2", ("\u0432",))
        assert run_ok(manifest).result.write_path == "direct"
    finally:
        pg.sql(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')


def test_a_trigger_on_a_partition_of_the_target_takes_the_arrow_path(pg: PgDatabase) -> None:
    pg.sql(
        "CREATE TABLE src (id int PRIMARY KEY, n int); INSERT INTO src SELECT g, g % 5 FROM generate_series(1, 100) g"
    )
    pg.sql(
        "CREATE TABLE dst (id int PRIMARY KEY, n int) PARTITION BY RANGE (id); "
        "CREATE TABLE dst_a PARTITION OF dst FOR VALUES FROM (0) TO (50); "
        "CREATE TABLE dst_b PARTITION OF dst FOR VALUES FROM (50) TO (1000); "
        "CREATE FUNCTION clamp() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.n := least(NEW.n, 5); RETURN NEW; END $$; "
        "CREATE TRIGGER clamp BEFORE INSERT ON dst_b FOR EACH ROW EXECUTE FUNCTION clamp()"
    )
    pg.sql("UPDATE src SET n = 9 WHERE id = 70")
    manifest = pg.manifest([_process({"enforcement": "strict", "columns": {"n": {"max": 5}}})])
    result = run_cli(manifest, "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "n.max" in json.loads(result.stdout)["result"]["errors"][0]["message"]
    assert pg.sql("SELECT count(*) FROM dst") == [(0,)]


def test_an_unconstrained_numeric_target_takes_the_arrow_path(pg: PgDatabase) -> None:
    # To the Arrow path the target column is decimal128(38, 9): it converts (and could quarantine).
    pg.sql("CREATE TABLE src (id int PRIMARY KEY, amount numeric(12, 4)); INSERT INTO src VALUES (1, 1), (2, 2.5)")
    pg.sql("CREATE TABLE dst (id int PRIMARY KEY, amount numeric)")
    report = run_ok(pg.manifest([_process()]))
    assert report.result.write_path == "direct"
    assert pg.sql("SELECT id, amount FROM dst ORDER BY id") == pg.sql("SELECT id, amount FROM src ORDER BY id")


def test_an_interpreter_that_cannot_start_leaves_the_load_to_the_arrow_path(
    pg: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    _source(pg, 200)
    monkeypatch.setattr(sys, "executable", "/nonexistent/venv/bin/python3")  # replaced under the process
    report = run_ok(pg.manifest([_process()]))
    assert report.result.write_path == "direct" and _same_rows(pg)


FAKE_PARENT = r"""
import json, os, subprocess, sys, time
from dpone_core.connectors.postgres import copy_out

child = subprocess.Popen([sys.executable, "-P", str(copy_out.CHILD), str(os.getpid())], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
params = json.loads(sys.argv[1])
child.stdin.write(json.dumps({"params": params, "sql": "COPY (SELECT pg_sleep(60)) TO STDOUT"}).encode() + b"\n")
child.stdin.write(b"go\n")
child.stdin.flush()
# Another process holds the write end of the child's stdin: its end never arrives when we die.
holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], pass_fds=[child.stdin.fileno()])
print(child.pid, holder.pid, flush=True)
time.sleep(120)
"""


def test_the_reading_child_dies_with_its_parent_even_if_its_stdin_stays_open(pg: PgDatabase) -> None:
    params = {
        "host": pg.server.host,
        "port": str(pg.server.port),
        "user": pg.server.user,
        "password": pg.server.password,
        "dbname": pg.name,
    }
    parent = subprocess.Popen(
        [sys.executable, "-c", FAKE_PARENT, json.dumps(params)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert parent.stdout is not None
    child_pid, holder_pid = (int(p) for p in parent.stdout.readline().split())
    try:
        sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT pg_sleep%'"
        deadline = time.monotonic() + 20
        while pg.sql(sleeping) != [(1,)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pg.sql(sleeping) == [(1,)]
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the reading child outlived its killed parent"
    finally:
        for pid in (child_pid, holder_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
