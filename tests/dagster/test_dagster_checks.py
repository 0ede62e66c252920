"""Asset checks from contract verdicts: passing, warning (quarantine) and failing (strict) runs."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_helpers import edit_manifest

from dpone_core.runtime.report import ErrorEntry, GateVerdict, RunReport, RunResult
from dpone_dagster import DponeResource, build_dpone_assets
from dpone_dagster.event_iterator import attributable_verdicts, failure_for, report_events

ORDERS = dg.AssetKey(["analytics", "orders"])


def test_strict_violation_fails_the_step_with_the_report_errors(quickstart: Path, instance: dg.DagsterInstance) -> None:
    edit_manifest(quickstart, schema_contract={"enforcement": "strict"}, retry={"attempts": 2, "backoff_seconds": 0})
    assets = build_dpone_assets(quickstart)
    assert assets[0].op.retry_policy is not None
    result = dg.materialize(assets, instance=instance, resources={"dpone": DponeResource()}, raise_on_error=False)
    assert not result.success
    assert result.get_asset_materialization_events() == []
    failure = result.get_step_failure_events()[0].step_failure_data
    assert "[DPONE_CONTRACT_VIOLATION]" in failure.error.message
    assert "165 rows break the data contract" in failure.error.message
    assert failure.user_failure_data.metadata["dpone/status"].value == "failed"
    # A contract violation is not transient: the RetryPolicy from the manifest does not re-run it.
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert retries == []
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations, "the rules the failed run saw break become failed checks"
    for evaluation in evaluations.values():
        assert evaluation.passed is False
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert evaluation.metadata["dpone/failed_rows"].value > 0
    assert set(evaluations) == {"amount_type", "amount_min", "status_allowed", "email_regex"}
    assert sum(e.metadata["dpone/failed_rows"].value for e in evaluations.values()) == 165
    # Nothing was committed: the target table was never created.
    with duckdb.connect(str(quickstart.parent / ".dpone" / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_name FROM information_schema.tables WHERE table_name = 'orders'").fetchall()
    assert tables == []


def test_clean_load_passes_every_check(events: Path, instance: dg.DagsterInstance) -> None:
    edit_manifest(events, partitions=None)
    result = dg.materialize(build_dpone_assets(events), instance=instance, resources={"dpone": DponeResource()})
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "id_type",
        "id_not_null",
        "id_unique",
        "happened_at_type",
        "happened_at_not_null",
        "amount_type",
        "amount_min",
    }
    assert all(e.passed for e in evaluations)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == 20


def test_enforcement_off_declares_only_enforced_rules(quickstart: Path) -> None:
    edit_manifest(quickstart, schema_contract={"enforcement": "off"})
    names = {c.name for c in build_dpone_assets(quickstart)[0].check_specs}
    assert "amount_min" not in names and "status_allowed" not in names
    assert {"amount_type", "id_unique"} <= names


def _failed(code: str, message: str, gates: list[GateVerdict] | None = None) -> RunReport:
    entry = ErrorEntry(code=code, message=message, process="orders", step="contract", line=f"[{code}] {message}")
    return RunReport(
        passed=False,
        status="failed",
        process="orders",
        run_id="r1",
        result=RunResult(errors=[entry], gates=gates or []),
    )


def _verdict(rule: str, verdict: str, rows: int) -> GateVerdict:
    return GateVerdict(gate="contract", rule=rule, verdict=verdict, failed_rows=rows)  # type: ignore[arg-type]


def test_a_failed_run_vouches_only_for_the_rules_it_saw_break() -> None:
    gates = [
        _verdict("amount.min", "failed", 9),
        _verdict("status.allowed", "failed", 3),
        _verdict("id.unique", "passed", 0),
    ]  # not seen to break: the run may have stopped before it
    failed = _failed("DPONE_CONTRACT_VIOLATION", "12 rows break the data contract", gates)
    assert [(v.rule, v.failed_rows) for v in attributable_verdicts(failed)] == [
        ("amount.min", 9),
        ("status.allowed", 3),
    ]
    passed = failed.model_copy(update={"passed": True, "status": "succeeded"})
    assert len(attributable_verdicts(passed)) == 3


def test_failure_allows_retries_only_for_transient_errors() -> None:
    assert failure_for(_failed("DPONE_TRANSIENT", "connection reset")).allow_retries is True
    assert failure_for(_failed("DPONE_ALREADY_RUNNING", "lease held")).allow_retries is True
    assert failure_for(_failed("DPONE_CONTRACT_VIOLATION", "bad rows")).allow_retries is False
    failure = failure_for(_failed("DPONE_TERMINAL", "table missing"))
    assert failure.description.splitlines()[1] == "[DPONE_TERMINAL] table missing"


def test_report_events_raise_after_yielding_attributable_checks() -> None:
    report = _failed(
        "DPONE_CONTRACT_VIOLATION",
        "3 rows break the data contract (amount.min x3); first: x",
        [_verdict("amount.min", "failed", 3), _verdict("id.unique", "passed", 0)],
    )
    events = report_events([report], asset_key=ORDERS, checks={"amount.min": "amount_min", "id.unique": "id_unique"})
    first = next(events)
    assert isinstance(first, dg.AssetCheckResult) and first.check_name == "amount_min" and not first.passed
    with pytest.raises(dg.Failure):
        next(events)


def test_same_dagster_run_id_does_not_load_twice(quickstart: Path) -> None:
    from dpone_dagster import dpone_run_id

    resource = DponeResource()
    run_id = dpone_run_id("0f1e2d3c")
    first = resource.run_process(quickstart, "orders", run_id=run_id)
    again = resource.run_process(quickstart, "orders", run_id=run_id)  # a Dagster step retry after the commit
    assert (first.status, first.result.inserted_rows) == ("succeeded", 3835)
    assert again.passed and again.status == "skipped" and again.result.inserted_rows == 0
    events = list(report_events([again], asset_key=ORDERS, checks={"amount.min": "amount_min"}, row_count=3835))
    assert [type(e) for e in events] == [dg.MaterializeResult]
    assert events[0].metadata["dpone/status"] == "skipped"
