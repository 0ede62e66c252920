"""``check``: re-verify a process's target table against its contract and audit rows, standalone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dpone_core.api.run import ManifestLike, load
from dpone_core.errors import ConfigurationError, DponeError
from dpone_core.manifest.process import parse_duration_seconds
from dpone_core.manifest.selectors import select_one
from dpone_core.runtime.runner import error_entry
from dpone_core.verification.report import TableCheckReport


def check(
    manifest: ManifestLike,
    selector: str | None = None,
    *,
    partition: str | None = None,
    max_age: float | str | timedelta | None = None,
    registry_paths: Sequence[str | Path] = (),
    connections: Mapping[str, Mapping[str, Any]] | None = None,
) -> TableCheckReport:
    """Check the selected process's target now: contract rules, audit row count, freshness.

    ``max_age`` (seconds, a duration such as ``"6h"``, or a timedelta) turns on the freshness
    check. Works on tables other tools write (the audit checks are then skipped). Read-only;
    never raises for an expected error (it is in the report's ``errors``).

    >>> report = check("dags_examples/quickstart/orders.yaml", "orders", max_age="1d")  # doctest: +SKIP
    >>> report.passed, [v.rule for v in report.failed()]  # doctest: +SKIP
    (True, [])
    """
    try:
        seconds = max_age_seconds(max_age)
        loaded = load(manifest, registry_paths, connections)
        process = select_one(loaded.manifest, selector)
    except DponeError as exc:
        name = selector or "-"
        return TableCheckReport(process=name, target="-", errors=[error_entry(exc, None)], checked_at=datetime.now(UTC))
    # pyarrow.compute and the gates load only when a check runs, not on every import of the API.
    from dpone_core.verification.table_check import check_table

    return check_table(loaded, process, partition=partition, max_age_seconds=seconds)


def max_age_seconds(max_age: float | str | timedelta | None) -> float | None:
    """``max_age`` in seconds; a bad duration is a configuration error naming the fix.

    >>> max_age_seconds("2h"), max_age_seconds(timedelta(minutes=1)), max_age_seconds(None)
    (7200.0, 60.0, None)
    """
    if max_age is None:
        return None
    if isinstance(max_age, timedelta):
        return max_age.total_seconds()
    if isinstance(max_age, int | float):
        return float(max_age)
    try:
        return parse_duration_seconds(max_age)
    except ValueError as exc:
        raise ConfigurationError(str(exc), step="check", fix="give max_age as 90s, 30m, 6h, 2d or 1w") from None
