"""The reconcile gate on Postgres: inside the finalize transaction, a red verdict rolls everything back."""

from __future__ import annotations

from typing import Any

import pytest

import dpone_core
from tests.integration.postgres.conftest import PgDatabase


def _process(mode: str = "rows", strategy: str = "merge", **extra: Any) -> dict[str, Any]:
    return {
        "name": "p",
        "source": {"connection": "pg", "table": "public.src", "incremental": {"cursor": "n"}},
        "sink": {"connection": "pg", "table": "public.dst", "strategy": strategy, "primary_key": ["id"]},
        "reconcile": {"mode": mode, **extra},
        "runtime_evidence": {"output_dir": "evidence"},
    }


def _source(pg: PgDatabase) -> None:
    pg.sql("CREATE TABLE src (id bigint PRIMARY KEY, amount numeric(12,2), note text, at timestamptz, n bigint)")
    pg.sql(
        "INSERT INTO src SELECT i, i * 1.25, 'row ' || i, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 s', i "
        "FROM generate_series(1, 1000) i"
    )


@pytest.mark.parametrize("mode", ["count", "checksum", "rows"])
def test_a_clean_load_passes_the_gate(pg: PgDatabase, mode: str) -> None:
    _source(pg)
    m = pg.manifest([_process(mode)])
    report = dpone_core.run(m)
    assert report.passed, report.to_text()
    [verdict] = [g for g in report.result.gates if g.gate == "reconcile"]
    assert verdict.verdict == "passed" and "source 1000 rows" in verdict.detail
    pg.sql("INSERT INTO src SELECT i, i, 'late', now(), i FROM generate_series(1001, 1010) i")
    again = dpone_core.run(m)
    assert again.passed and again.result.inserted_rows == 10
    [verdict] = [g for g in again.result.gates if g.gate == "reconcile"]
    assert "source 10 rows" in verdict.detail  # only the load's window is compared


def test_a_target_tampered_by_a_trigger_rolls_back_data_audit_and_state(pg: PgDatabase) -> None:
    _source(pg)
    m = pg.manifest([_process("rows")])
    assert dpone_core.run(m).passed
    before = (pg.sql("SELECT count(*), sum(amount) FROM dst"), pg.state("p"), pg.loads("p"))
    pg.sql(
        "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.amount := NEW.amount + 0.01; RETURN NEW; END $$"
    )
    pg.sql("CREATE TRIGGER tamper BEFORE INSERT OR UPDATE ON dst FOR EACH ROW EXECUTE FUNCTION bump()")
    pg.sql("INSERT INTO src SELECT i, i, 'late', now(), i FROM generate_series(1001, 1003) i")
    report = dpone_core.run(m)
    assert not report.passed and report.result.errors[0].code == "DPONE_RECONCILE_FAILED"
    [verdict] = [g for g in report.result.gates if g.gate == "reconcile"]
    assert verdict.verdict == "failed" and verdict.failed_rows == 3 and "amount (3)" in verdict.detail
    assert (pg.sql("SELECT count(*), sum(amount) FROM dst"), pg.state("p"), pg.loads("p")) == before


def test_a_non_blocking_gate_commits_and_warns(pg: PgDatabase) -> None:
    _source(pg)
    pg.sql("CREATE TABLE dst (id bigint PRIMARY KEY, amount numeric(12,2), note text, at timestamptz, n bigint)")
    pg.sql(
        "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.note := upper(NEW.note); RETURN NEW; END $$"
    )
    pg.sql("CREATE TRIGGER tamper BEFORE INSERT OR UPDATE ON dst FOR EACH ROW EXECUTE FUNCTION bump()")
    m = pg.manifest([_process("checksum", block=False)])
    report = dpone_core.run(m)
    assert report.passed
    assert any("reconcile (checksum) is red but does not block" in w for w in report.result.warnings)
    assert pg.loads("p") == 1
