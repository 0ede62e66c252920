"""Partition keys and the row predicates that select one partition (replay, backfill, scale-out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dpone_core.connectors.ports import Predicate
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.process import Partitions

_FORMATS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


def _next(start: datetime, grain: str) -> datetime:
    if grain == "hour":
        return start + timedelta(hours=1)
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    if grain == "month":
        return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def partition_window(grain: str, key: str) -> tuple[datetime, datetime]:
    """[start, end) of a time partition key such as ``2024-03-05`` (day) or ``2024-03`` (month).

    >>> [d.isoformat() for d in partition_window("month", "2024-12")]
    ['2024-12-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00']
    """
    try:
        start = datetime.strptime(key, _FORMATS[grain]).replace(tzinfo=UTC)
    except ValueError:
        raise ConfigurationError(
            f"partition key '{key}' does not match the {grain} format {_FORMATS[grain]}",
            step="extract",
            fix="pass a key such as " + datetime(2024, 1, 1).strftime(_FORMATS[grain]),
        ) from None
    return start, _next(start, grain)


def partition_predicates(partitions: Partitions, key: str) -> list[Predicate]:
    """Predicates selecting the rows of partition ``key``."""
    if partitions.grain is not None:
        start, end = partition_window(partitions.grain, key)
        return [Predicate(partitions.column, ">=", start), Predicate(partitions.column, "<", end)]
    if partitions.values is not None:
        matches = [v for v in partitions.values if str(v) == key]
        if not matches:
            raise ConfigurationError(
                f"partition '{key}' is not one of {partitions.values}",
                step="extract",
                fix="pass one of the manifest's partitions.values",
            )
        return [Predicate(partitions.column, "==", matches[0])]
    raise ConfigurationError(
        "key-range partitions are split by a database source; files and DuckDB sources "
        "take time-grain or value partitions",
        step="extract",
        fix="use grain or values",
    )


def partition_keys(partitions: Partitions, until: datetime | None = None) -> list[str]:
    """Every partition key: each grain step from ``start`` up to ``until`` (now), or the values list."""
    if partitions.values is not None:
        return [str(v) for v in partitions.values]
    if partitions.grain is None or partitions.start is None:
        return []
    fmt = _FORMATS[partitions.grain]
    current, _ = partition_window(partitions.grain, datetime.fromisoformat(partitions.start).strftime(fmt))
    end = until or datetime.now(UTC)
    keys = []
    while current < end:
        keys.append(current.strftime(fmt))
        current = _next(current, partitions.grain)
    return keys
