"""Partition keys and the row predicates that select one partition (replay, backfill, scale-out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.process import Partitions
from dpone_core.model import Predicate

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
    if grain == "week" and start.weekday() != 0:
        monday = start - timedelta(days=start.weekday())
        raise ConfigurationError(
            f"week partition key '{key}' is a {start:%A}: week partitions are ISO weeks, named by their Monday",
            step="extract",
            fix=f"pass --partition {monday:%Y-%m-%d} for the week that contains {key}",
        )
    return start, _next(start, grain)


def range_index(ranges: int, key: str) -> int:
    """The range number a partition key names (``0`` .. ``ranges - 1``)."""
    index = int(key) if key.isascii() and key.isdigit() else -1
    if not 0 <= index < ranges:
        raise ConfigurationError(
            f"partition '{key}' is not a key range of this process (0 to {ranges - 1})",
            step="extract",
            fix=f"pass --partition 0 .. {ranges - 1} (ranges are numbered from 0)",
        )
    return index


def range_predicates(column: str, ranges: int, index: int, bounds: tuple[int, int] | None) -> list[Predicate]:
    """Predicates of key range ``index`` (``0`` .. ``ranges - 1``) over integer keys within ``bounds``.

    The span ``[low, high]`` is cut at ``low + span * i // ranges``; the first range has no lower
    bound and the last no upper bound, so every non-NULL key lands in exactly one range.

    >>> [[(p.op, p.value) for p in range_predicates("id", 3, i, (1, 9))] for i in range(3)]
    [[('<', 4)], [('>=', 4), ('<', 7)], [('>=', 7)]]
    """
    low, high = bounds if bounds is not None else (0, 0)
    span = high - low + 1
    cuts = [low + span * i // ranges for i in range(ranges + 1)]
    predicates = []
    if index > 0:
        predicates.append(Predicate(column, ">=", cuts[index]))
    if index < ranges - 1:
        predicates.append(Predicate(column, "<", cuts[index + 1]))
    return predicates


def partition_predicates(
    partitions: Partitions, key: str, key_bounds: Callable[[str], tuple[int, int] | None] | None = None
) -> list[Predicate]:
    """Predicates selecting the rows of partition ``key``.

    Key ranges need the source's ``key_bounds`` (a database source with that capability); other
    sources take time-grain or value partitions.
    """
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
    assert partitions.ranges is not None
    if key_bounds is None:
        raise ConfigurationError(
            "key-range partitions are split by a database source (Postgres); files and DuckDB sources "
            "take time-grain or value partitions",
            step="extract",
            fix="use grain or values",
        )
    index = range_index(partitions.ranges, key)
    return range_predicates(partitions.column, partitions.ranges, index, key_bounds(partitions.column))


def partition_keys(partitions: Partitions, until: datetime | None = None) -> list[str]:
    """Every partition key: each grain step from ``start`` up to ``until`` (now), the values, or range numbers."""
    if partitions.values is not None:
        return [str(v) for v in partitions.values]
    if partitions.ranges is not None:
        return [str(i) for i in range(partitions.ranges)]
    if partitions.grain is None or partitions.start is None:
        return []
    fmt = _FORMATS[partitions.grain]
    first = datetime.fromisoformat(partitions.start)
    if first.tzinfo is not None:
        first = first.astimezone(UTC)  # an aware start (an orchestrator's interval) counts in UTC
    if partitions.grain == "week":
        first -= timedelta(days=first.weekday())  # the ISO week that contains it
    current, _ = partition_window(partitions.grain, first.strftime(fmt))
    end = until or datetime.now(UTC)
    keys = []
    while current < end:
        keys.append(current.strftime(fmt))
        current = _next(current, partitions.grain)
    return keys
