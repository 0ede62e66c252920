"""The dialect-neutral LoadPlan of a process's load: what the strategy statements are rendered from."""

from __future__ import annotations

from datetime import datetime

from dpone_core.manifest.process import Process
from dpone_core.model import StagedLoad, TableRef
from dpone_core.strategies.plan import DeleteMarkerSpec, LoadPlan, PartitionSpec, Scd2Spec


def load_plan(
    process: Process, target: TableRef, staged: StagedLoad, load_time: datetime, *, target_empty: bool
) -> LoadPlan:
    """The plan moving ``staged`` into ``target`` by the process's strategy, keys and markers."""
    sink = process.sink
    return LoadPlan(
        strategy=sink.strategy,
        target=target,
        staging=staged.handle,
        columns=tuple(staged.schema.names),
        primary_key=tuple(sink.primary_key),
        delete_marker=DeleteMarkerSpec(sink.delete_marker.column, sink.delete_marker.mode)
        if sink.delete_marker
        else None,
        scd2=Scd2Spec(**(sink.scd2.model_dump() if sink.scd2 else {})) if sink.strategy == "scd2" else None,
        partition=PartitionSpec(process.partitions.column, process.partitions.grain) if process.partitions else None,
        load_time=load_time,
        target_empty=target_empty,
    )
