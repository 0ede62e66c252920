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
