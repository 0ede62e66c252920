"""A Postgres table read as several ctid ranges at once (``source.options.parallel_reads``), into DuckDB.

Each load runs twice, as ranges and as one COPY, and everything it leaves must be the same: target
rows, counts, gate verdicts, quarantined rows, evidence, audit row and state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

import dpone_core
from dpone_core.connectors.postgres import parallel_read
from dpone_core.connectors.postgres.connection import connect, connect_adbc, connection_params
from dpone_core.connectors.postgres.profile import PostgresProfile
from tests.integration.postgres.conftest import PgDatabase, run_ok

pytestmark = pytest.mark.integration
ROWS = 20_000


def _source(pg: PgDatabase) -> None:
    pg.sql(
        "CREATE TABLE public.src (id bigint PRIMARY KEY, amount numeric(12,2), name text NOT NULL, "
        "updated_at timestamptz NOT NULL, u uuid, doc jsonb, tags text[], pad text)"
    )
    # Rows every 97th id break amount.min, every 89th the name regex; NULLs and arrays on the way.
    pg.sql(
        f"""INSERT INTO public.src SELECT g, CASE WHEN g % 97 = 0 THEN -1 WHEN g % 13 = 0 THEN NULL
        ELSE (g % 5000) / 100.0 END, CASE WHEN g % 89 = 0 THEN 'bad name' ELSE 'n' || g END,
        '2026-01-01'::timestamptz + g * interval '1 minute', md5(g::text)::uuid,
        jsonb_build_object('k', g), ARRAY['a' || g, NULL], repeat('x', 100) FROM generate_series(1, {ROWS}) g"""
    )


def _process(name: str, target: str, parallel_reads: int, contract: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "source": {
            "connection": "pg",
            "table": "public.src",
            "options": {"parallel_reads": parallel_reads},
            "incremental": {"cursor": "updated_at"},
        },
        "sink": {"connection": target, "table": "main.dst", "strategy": "merge", "primary_key": ["id"]},
        "runtime_evidence": {"output_dir": f"evidence_{target}"},
        "quarantine": {"dir": f"quarantine_{target}"},
        "schema_contract": contract
        or {
            "enforcement": "quarantine",
            "columns": {
                "amount": {"type": "decimal", "precision": 12, "scale": 2, "min": 0},
                "name": {"type": "string", "regex": "^n[0-9]+$"},
            },
        },
    }


def _manifest(pg: PgDatabase, processes: list[dict[str, Any]]) -> Path:
    connections = {
        "par": {"type": "duckdb", "path": "par.duckdb"},
        "one": {"type": "duckdb", "path": "one.duckdb"},
    }
    return pg.manifest(processes, connections)


def _spy_ranges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many sessions each parallel read got (the real code runs unchanged)."""
    opened: list[int] = []
    real = parallel_read.SnapshotSessions.open

    def spy(control: Any, first: Any, params: dict[str, str], count: int) -> Any:
        found = real(control, first, params, count)
        opened.append(len(found.sessions) if found is not None else 1)
        return found

    monkeypatch.setattr(parallel_read.SnapshotSessions, "open", staticmethod(spy))
    return opened


def _left(folder: Path, name: str) -> dict[str, Any]:
    """What a load left in its DuckDB file, quarantine folder and evidence, without run ids and times."""
    with duckdb.connect(str(folder / f"{name}.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT * FROM main.dst ORDER BY id").fetchall()
        audit = con.execute(
            "SELECT rows_extracted, rows_inserted, rows_updated, rows_deleted, rows_quarantined, status "
            "FROM __dpone__loads"
        ).fetchall()
        state = con.execute("SELECT cursor_column, cursor_value FROM __dpone__state").fetchall()
    quarantined = sorted(
        (r["id"], r["name"], str(r["amount"]))
        for path in sorted((folder / f"quarantine_{name}").rglob("*.parquet"))
        for r in pq.read_table(path).to_pylist()
    )
    evidence = []
    for path in sorted((folder / f"evidence_{name}").rglob("*.json")):
        doc = json.loads(path.read_text())
        evidence.append(sorted((g["gate"], g["rule"], g["verdict"], g["failed_rows"]) for g in doc.get("gates", [])))
    return {"rows": rows, "audit": audit, "state": state, "quarantined": quarantined, "evidence": evidence}


def test_ranges_and_one_copy_leave_the_same_load(pg: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    _source(pg)
    manifest = _manifest(pg, [_process("par", "par", 3), _process("one", "one", 1)])
    opened = _spy_ranges(monkeypatch)
    par = run_ok(manifest, selector="par")
    assert opened == [3], "the table was not read as three ranges"
    one = run_ok(manifest, selector="one")
    assert opened == [3], "parallel_reads: 1 must read as one COPY"
    quarantined = ROWS // 97 + ROWS // 89 - ROWS // (97 * 89)
    for report in (par, one):
        result = report.result
        assert (result.extracted_rows, result.inserted_rows) == (ROWS, ROWS - quarantined)
        assert result.quarantined_rows == quarantined
    gates = [sorted((g.gate, g.rule, g.verdict, g.failed_rows) for g in r.result.gates) for r in (par, one)]
    assert gates[0] == gates[1]
    left_par, left_one = _left(pg.folder, "par"), _left(pg.folder, "one")
    assert left_par == left_one
    assert len(left_par["rows"]) == ROWS - quarantined and len(left_par["quarantined"]) == quarantined
    assert left_par["state"][0][1] is not None
    source = pg.sql("SELECT id, amount, name, u::text, doc::text, tags FROM public.src WHERE id = 12345")[0]
    loaded = next(r for r in left_par["rows"] if r[0] == 12345)
    assert (loaded[1], loaded[2], str(loaded[4]), json.loads(loaded[5]), loaded[6]) == (
        source[1],
        source[2],
        source[3],
        json.loads(source[4]),
        source[5],
    )

    # A second run reads past the committed cursor: nothing new, both ways.
    pg.sql("INSERT INTO public.src SELECT 100000, 1.5, 'n100000', '2030-01-01', NULL, NULL, NULL, 'x'")
    again = [run_ok(manifest, selector=p).result for p in ("par", "one")]
    assert [(r.extracted_rows, r.inserted_rows) for r in again] == [(1, 1), (1, 1)]
    assert _left(pg.folder, "par") == _left(pg.folder, "one")


def test_refused_extra_sessions_read_as_one_copy(pg: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """A role that may open no more sessions than a single read needs still loads every row."""
    _source(pg)
    pg.sql("CREATE ROLE limited LOGIN PASSWORD 'limited' CONNECTION LIMIT 2")
    pg.sql(f'GRANT ALL ON DATABASE "{pg.name}" TO limited')
    pg.sql("GRANT SELECT ON public.src TO limited")
    monkeypatch.setenv("DPONE_TEST_LIMITED_PASSWORD", "limited")
    profile = {**pg.profile(), "user": "limited", "password": "${env:DPONE_TEST_LIMITED_PASSWORD}"}
    process = _process("par", "par", 4)
    process["source"]["connection"] = "lim"
    manifest = pg.manifest([process], {"lim": profile, "par": {"type": "duckdb", "path": "par.duckdb"}})
    opened = _spy_ranges(monkeypatch)
    report = run_ok(manifest)
    assert opened == [1], "the extra sessions should have been refused"
    assert report.result.extracted_rows == ROWS


def test_a_range_error_is_the_single_copy_error(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE public.src (id bigint PRIMARY KEY, grid int[], pad text)")
    pg.sql("INSERT INTO public.src SELECT g, ARRAY[g], repeat('x', 200) FROM generate_series(1, 5000) g")
    pg.sql("UPDATE public.src SET grid = ARRAY[[1, 2], [3, 4]] WHERE id = 4000")
    process = _process("par", "par", 3, {"columns": {}})
    del process["source"]["incremental"]
    manifest = _manifest(pg, [process])
    report = dpone_core.run(manifest)
    assert not report.passed
    assert "column grid holds a multi-dimensional array" in report.result.errors[0].message


def test_a_failed_load_ends_every_range_session(pg: PgDatabase) -> None:
    """A strict contract failing mid-read stops the other ranges' COPYs: no session stays behind."""
    _source(pg)
    contract = {"enforcement": "strict", "columns": {"amount": {"type": "decimal", "precision": 12, "scale": 2}}}
    contract["columns"]["amount"]["min"] = 0
    manifest = _manifest(pg, [_process("par", "par", 3, contract)])
    report = dpone_core.run(manifest)
    assert not report.passed and "amount" in report.result.errors[0].message
    left = pg.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    assert left == [(0,)]
    with duckdb.connect(str(pg.folder / "par.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'dst'").fetchone() == (0,)


def test_sessions_read_in_the_exported_snapshot(pg: PgDatabase) -> None:
    """Rows written after the sessions imported the snapshot are seen by none of them."""
    pg.sql("CREATE TABLE public.src (id int)")
    pg.sql("INSERT INTO public.src SELECT generate_series(1, 10)")
    params = connection_params(PostgresProfile.model_validate(pg.profile()), pg.folder, "test")
    control, first = connect(params), connect_adbc(params)
    sessions = parallel_read.SnapshotSessions.open(control, first, params, 3)
    assert sessions is not None and len(sessions.sessions) == 3
    try:
        pg.sql("INSERT INTO public.src SELECT generate_series(11, 20)")
        pg.sql("DELETE FROM public.src WHERE id <= 5")
        for session in sessions.sessions:
            cursor = session.cursor()
            cursor.execute("SELECT count(*), min(id), max(id) FROM public.src")
            assert cursor.fetchone() == (10, 1, 10)
            cursor.close()
    finally:
        sessions.close()
        first.close()
        control.close()
