"""The retry schedule and the retry options' validation."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from dpone_core.cli.main import cli
from dpone_core.manifest.process import Retry
from dpone_core.runtime.backoff import wait_before_retry


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [("fixed", [2.0, 2.0, 2.0, 2.0]), ("exponential", [2.0, 4.0, 8.0, 16.0])],
)
def test_waits_follow_the_backoff_kind(backoff: str, expected: list[float]) -> None:
    retry = Retry(attempts=4, backoff_seconds=2, backoff=backoff)  # type: ignore[arg-type]
    assert [wait_before_retry(retry, n) for n in (1, 2, 3, 4)] == expected


def test_exponential_waits_stop_growing_at_32x() -> None:
    assert wait_before_retry(Retry(attempts=20, backoff_seconds=1), 12) == 32.0


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_bad_backoff_seconds_are_usage_errors(value: str) -> None:
    result = CliRunner().invoke(cli, ["run", "m.yaml", "--retry-backoff-seconds", value])
    assert result.exit_code == 2 and "--retry-backoff-seconds" in result.output


def test_api_refuses_a_nan_backoff_with_one_line(tmp_path: object) -> None:
    import dpone_core

    report = dpone_core.run("dags_examples/quickstart/orders.yaml", retry_backoff_seconds=math.nan, dry_run=True)
    assert report.exit_code == 2 and "finite number" in report.result.errors[0].line


def test_the_stage_runners_policy_waits_on_the_same_schedule() -> None:
    from dpone_core.orchestration.retry import RetryPolicy

    manifest = Retry(attempts=3, backoff_seconds=2)
    assert RetryPolicy.from_manifest(manifest).backoff().wait(3) == wait_before_retry(manifest, 3) == 8.0
    policy = RetryPolicy("backoff", 5, multiplier=1, min_seconds=3, max_seconds=6)
    assert [policy.backoff().wait(n) for n in (1, 2, 3, 4)] == [3, 3, 4, 6]


def test_errors_carry_their_own_retry_and_exit_code() -> None:
    from dpone_core.errors import ConcurrentRunError, ManifestError, TerminalError
    from dpone_core.runtime.report import RunReport, RunResult
    from dpone_core.runtime.runner import error_entry

    def report(*errors: BaseException) -> RunReport:
        entries = [error_entry(e, "p") for e in errors]
        return RunReport(passed=False, status="failed", result=RunResult(errors=entries))

    assert report(ConcurrentRunError("busy")).retry_may_help and report(ConcurrentRunError("busy")).exit_code == 1
    assert not report(TerminalError("gone")).retry_may_help
    assert not report(RuntimeError("bug")).retry_may_help  # DPONE_INTERNAL is never retried
    assert report(ManifestError("bad")).exit_code == 2
