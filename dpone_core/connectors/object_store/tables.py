"""Opening a process's Parquet table sink on a store (shared by the files and S3 connectors)."""

from __future__ import annotations

from dpone_core.connectors.object_store.options import TableSinkOptions
from dpone_core.connectors.object_store.store import TableStore
from dpone_core.connectors.object_store.table_sink import LegacyTable, ObjectTableSink
from dpone_core.spi.spec import SinkRequest
from dpone_core.strategies.plan import PartitionSpec


def open_table(store: TableStore, request: SinkRequest, legacy: LegacyTable | None = None) -> ObjectTableSink:
    """The sink table of ``request.process`` on ``store``, with its options and partition column."""
    process = request.process
    options = request.options if isinstance(request.options, TableSinkOptions) else TableSinkOptions()
    partitions = process.partitions
    partition = (
        PartitionSpec(partitions.column, partitions.grain)
        if partitions is not None and process.sink.strategy == "partition_replace"
        else None
    )
    return ObjectTableSink(store, process.sink.table, partition=partition, gc_grace=options.grace(), legacy=legacy)
