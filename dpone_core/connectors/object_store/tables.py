"""Opening a process's table sink on a store (shared by the files and S3 connectors)."""

from __future__ import annotations

import importlib.util

from dpone_core.connectors.object_store.delta_sink import DeltaTableSink
from dpone_core.connectors.object_store.options import TableSinkOptions
from dpone_core.connectors.object_store.store import TableStore
from dpone_core.connectors.object_store.table_sink import ObjectTableSink
from dpone_core.errors import ConfigurationError
from dpone_core.spi.spec import SinkRequest
from dpone_core.strategies.plan import PartitionSpec


def open_table(
    store: TableStore, request: SinkRequest, delta_options: dict[str, str]
) -> ObjectTableSink | DeltaTableSink:
    """The sink table of ``request.process`` on ``store``, in its ``sink.format``.

    ``delta_options`` are the delta-rs storage options of the store (credentials, endpoint).
    """
    process = request.process
    if process.sink.format == "delta":
        if importlib.util.find_spec("deltalake") is None:
            raise ConfigurationError(
                "format: delta needs the deltalake package, which is not installed",
                step="connect",
                fix="pip install 'dpone[delta]'",
            )
        probe = ObjectTableSink(store, process.sink.table)
        folder = probe.folder.rstrip("/")
        return DeltaTableSink(store.uri(folder), delta_options, process.sink.table, store.lineage_name(folder))
    options = request.options if isinstance(request.options, TableSinkOptions) else TableSinkOptions()
    partitions = process.partitions
    partition = (
        PartitionSpec(partitions.column, partitions.grain)
        if partitions is not None and process.sink.strategy == "partition_replace"
        else None
    )
    return ObjectTableSink(store, process.sink.table, partition=partition, gc_grace=options.grace())
