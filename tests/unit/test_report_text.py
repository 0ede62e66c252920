"""How reports read: the state line, plan headings, attempts when nothing ran, manifest validate."""

from __future__ import annotations

import json

from click.testing import CliRunner

import dpone_core
from dpone_core.cli.main import cli
from dpone_core.runtime.report import ErrorEntry, RunReport, RunResult

QUICKSTART = "dags_examples/quickstart/orders.yaml"


def test_the_state_line_shows_the_cursor_value_not_its_json() -> None:
    cursor = json.dumps({"kind": "timestamp", "value": "2026-01-01T00:00:00+00:00"})
    after = {"cursor_column": "updated_at", "cursor_value": cursor, "run_id": "r2", "load_id": "l2"}
    report = RunReport(passed=True, status="succeeded", result=RunResult(state_before=None, state_after=after))
    line = next(line for line in report.to_text().splitlines() if "state:" in line)
    assert line == "  state: none -> updated_at=2026-01-01T00:00:00+00:00 (run r2)"


def test_a_plan_in_markdown_is_headed_plan_and_has_no_load_id() -> None:
    report = dpone_core.plan(QUICKSTART)
    text = report.to_markdown()
    assert text.startswith("# dpone plan: orders") and "| load_id | - (nothing committed) |" in text


def test_a_manifest_error_shows_no_attempts() -> None:
    report = dpone_core.run(QUICKSTART, "no-such-process")
    assert (report.attempts, report.max_attempts) == (0, 0) and report.exit_code == 2
    assert "attempts=" not in report.to_text()
    configuration = RunReport(
        passed=False,
        status="failed",
        result=RunResult(errors=[ErrorEntry(code="DPONE_CONFIGURATION", message="x", line="[DPONE_CONFIGURATION] x")]),
    )
    assert "attempts=" not in configuration.to_text()


def test_manifest_validate_counts_one_process_in_the_singular() -> None:
    result = CliRunner().invoke(cli, ["manifest", "validate", QUICKSTART])
    assert result.exit_code == 0 and "(1 process: orders;" in result.output
