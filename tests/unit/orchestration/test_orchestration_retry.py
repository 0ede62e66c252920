"""Retry decisions: which failures are retried, in which steps, and how the manifest's block maps."""

from __future__ import annotations

import pytest

from dpone_core.manifest.process import Retry
from dpone_core.orchestration.replay import ReplayRange, replay_keys
from dpone_core.orchestration.retry import RetryPolicy, step_of
from dpone_core.orchestration.trace import trace_table_name
from dpone_core.runtime.report import ErrorEntry, RunReport, RunResult


def _failed(code: str, step: str | None = None) -> RunReport:
    entry = ErrorEntry(code=code, message="m", step=step, line=f"[{code}] m")
    return RunReport(passed=False, status="failed", result=RunResult(errors=[entry]))


FIXED = RetryPolicy("fixed", 3)


@pytest.mark.parametrize(
    ("report", "phase", "expected"),
    [
        (_failed("DPONE_TRANSIENT"), "stage", True),
        (_failed("DPONE_ALREADY_RUNNING"), "connect", True),
        (_failed("DPONE_TERMINAL", "extract"), "extract", False),
        (_failed("DPONE_CONTRACT_VIOLATION", "contract"), "stage", False),
        (_failed("DPONE_MANIFEST_INVALID"), None, False),
        (_failed("DPONE_INTERNAL"), "finalize", False),
        (RunReport(passed=True, status="succeeded"), "finalize", False),
        (RunReport(passed=False, status="interrupted"), "stage", False),
    ],
)
def test_only_transient_failures_are_retried(report: RunReport, phase: str | None, expected: bool) -> None:
    assert FIXED.should_retry(report, phase) is expected


def test_retry_steps_narrow_where_a_transient_failure_is_retried() -> None:
    load_only = RetryPolicy("fixed", 3, steps=("load",))
    assert not load_only.should_retry(_failed("DPONE_ALREADY_RUNNING"), "connect")
    assert load_only.should_retry(_failed("DPONE_TRANSIENT"), "finalize")
    assert load_only.should_retry(_failed("DPONE_TRANSIENT", "stage"), "connect")  # the error's step wins
    assert not RetryPolicy("none").should_retry(_failed("DPONE_TRANSIENT"), "stage")


def test_phases_map_to_steps() -> None:
    assert [step_of(p) for p in ("connect", "extract", "evolution", "ddl", "stage", "finalize", "evidence")] == [
        "connect",
        "extract",
        "load",
        "load",
        "load",
        "load",
        "load",
    ]


def test_manifest_retry_blocks_become_policies() -> None:
    assert RetryPolicy.from_manifest(Retry()).type == "none"
    fixed = RetryPolicy.from_manifest(Retry(attempts=2, backoff="fixed", backoff_seconds=1))
    assert (fixed.type, fixed.max_attempts, fixed.wait_seconds) == ("fixed", 3, 1)
    backoff = RetryPolicy.from_manifest(Retry(attempts=4, backoff_seconds=2))
    assert (backoff.type, backoff.max_attempts, backoff.min_seconds, backoff.max_seconds) == ("backoff", 5, 2, 64)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy("fixed", 0)
    with pytest.raises(ValueError, match="unknown retry steps"):
        RetryPolicy("fixed", 2, steps=("normalize",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one of"):
        RetryPolicy.parse("linear")


def test_tenacity_returns_the_last_report_when_attempts_run_out() -> None:
    calls: list[int] = []

    def attempt() -> RunReport:
        calls.append(1)
        return _failed("DPONE_TRANSIENT")

    report = RetryPolicy("fixed", 3).retrying(lambda r: not r.passed)(attempt)
    assert len(calls) == 3 and report.result.errors[0].code == "DPONE_TRANSIENT"


def test_replay_keys_for_grains_and_values() -> None:
    from dpone_core.manifest.process import Process

    def proc(partitions: dict[str, object]) -> Process:
        return Process.model_validate(
            {
                "name": "p",
                "source": {"connection": "c", "path": "x", "format": "csv"},
                "sink": {"connection": "s", "table": "t"},
                "partitions": partitions,
            }
        )

    assert replay_keys(proc({"column": "ts", "grain": "day"}), ReplayRange("2024-02-28", "2024-03-01")) == [
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
    ]
    assert replay_keys(proc({"column": "r", "values": ["eu", "us", "apac"]}), ReplayRange("us", "apac")) == [
        "us",
        "apac",
    ]
    from dpone_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="before its start"):
        replay_keys(proc({"column": "ts", "grain": "month"}), ReplayRange("2024-03", "2024-01"))


def test_trace_table_names_are_safe_identifiers() -> None:
    assert trace_table_name("orders") == "orders_trace"
    assert trace_table_name("2024 sales-eu") == "p_2024_sales_eu_trace"
