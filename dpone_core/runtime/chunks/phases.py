"""Checking a run's phase against its process before anything connects."""

from __future__ import annotations

from collections.abc import Sequence

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.process import Process
from dpone_core.runtime.partitions import partition_keys

PHASES = ("load", "extract", "finalize")


def chunk_keys_for(
    process: Process, phase: str, partition: str | None, chunks: Sequence[str] | None, dry_run: bool = False
) -> tuple[str, ...] | None:
    """The partition keys a finalize run commits (None for the other phases); wrong combinations are errors.

    Value and key-range partitions default to every key of the manifest; time grains need the
    keys the extract runs covered (an orchestrator passes its data interval's keys).
    """
    if phase not in PHASES:
        raise ConfigurationError(f"unknown phase '{phase}'", step="plan", fix="use load, extract or finalize")
    if phase == "load":
        if chunks is not None:
            raise ConfigurationError("chunks apply only to phase finalize", step="plan", fix="add phase finalize")
        return None
    if process.partitions is None:
        raise ConfigurationError(
            f"phase {phase} splits a load by partitions, and the process has no partitions block",
            step="plan",
            fix="add partitions to the process, or run it with phase load",
        )
    if dry_run:
        raise ConfigurationError("a dry run plans a whole load", step="plan", fix="drop the phase or the dry run")
    if phase == "extract":
        if partition is None:
            raise ConfigurationError("phase extract needs a partition", step="plan", fix="pass --partition <key>")
        if chunks is not None:
            raise ConfigurationError("chunks apply only to phase finalize", step="plan", fix="drop chunks")
        return None
    if partition is not None:
        raise ConfigurationError(
            "phase finalize commits the chunks of every partition, not one partition",
            step="plan",
            fix="pass the keys as chunks instead of partition",
        )
    if chunks is not None:
        keys = tuple(str(c) for c in chunks)
    elif process.partitions.grain is None:
        keys = tuple(partition_keys(process.partitions))
    else:
        raise ConfigurationError(
            "phase finalize of a time-grain process needs the partition keys its extract runs covered",
            step="plan",
            fix="pass --chunks <key,key,...> (the Airflow task group passes its data interval's keys)",
        )
    if not keys:
        raise ConfigurationError("phase finalize got no partition keys", step="plan", fix="pass at least one key")
    if len(set(keys)) != len(keys):
        raise ConfigurationError("a partition key is listed twice in chunks", step="plan", fix="list each key once")
    return keys
