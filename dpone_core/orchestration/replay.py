"""Replay: the partition keys of a bounded historical range, each loaded as its own committed run.

A replay of ``2024-01 .. 2024-03`` on a monthly process becomes three chunks, ``2024-01``,
``2024-02`` and ``2024-03``; each chunk is an ordinary ``dpone_core.run(partition=key)`` with its
own run id, gates, evidence, audit row and state commit, so a replay that stops half way keeps
the chunks that committed and a re-run of the same job id loads only the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.process import Partitions, Process
from dpone_core.runtime.partitions import partition_keys, partition_window


@dataclass(frozen=True)
class ReplayRange:
    """First and last partition key of the replay, both included (``2024-01`` .. ``2024-03``)."""

    start: str
    end: str


def replay_keys(process: Process, replay: ReplayRange) -> list[str]:
    """The partition keys of ``process`` from ``replay.start`` to ``replay.end`` inclusive, in order.

    >>> from dpone_core.manifest.process import Partitions
    >>> p = Partitions(column="ts", grain="month")
    >>> _time_keys(p, ReplayRange("2024-11", "2025-02"))
    ['2024-11', '2024-12', '2025-01', '2025-02']
    """
    partitions = process.partitions
    if partitions is None:
        raise ConfigurationError(
            f"process '{process.name}' has no partitions block, so it cannot be replayed in chunks",
            process=process.name,
            fix="add partitions (column + grain or values) to the process",
        )
    if partitions.grain is not None:
        return _time_keys(partitions, replay)
    if partitions.values is not None:
        values = [str(v) for v in partitions.values]
        missing = [k for k in (replay.start, replay.end) if k not in values]
        if missing:
            raise ConfigurationError(
                f"replay bound(s) {missing} are not among the partition values {values}",
                process=process.name,
                fix="use two of the manifest's partitions.values as start and end",
            )
        first, last = values.index(replay.start), values.index(replay.end)
        return values[first : last + 1]
    raise ConfigurationError(
        "key-range partitions are not replayed by the dataflow runner", process=process.name,
        fix="use a time grain or values",
    )  # fmt: skip


def _time_keys(partitions: Partitions, replay: ReplayRange) -> list[str]:
    assert partitions.grain is not None
    start, _ = partition_window(partitions.grain, replay.start)
    last, end = partition_window(partitions.grain, replay.end)
    if last < start:
        raise ConfigurationError(
            f"replay end {replay.end} is before its start {replay.start}", fix="swap start and end"
        )
    bounded = partitions.model_copy(update={"start": start.isoformat()})
    return partition_keys(bounded, until=end)
