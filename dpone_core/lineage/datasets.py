"""The datasets a process reads and writes, named from the manifest without connecting.

A table source reads one dataset; a query source reads the tables its SQL names (see
:mod:`.query_tables`), each in the source connection's namespace, or one ``query`` dataset when
the SQL cannot be parsed. Orchestrators need these names at parse time (Airflow Assets, Dagster
metadata) and in events, so nothing here opens a connection or resolves a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dpone_core.connections.registry import connector
from dpone_core.connectors.lineage import connection_dataset, sink_dataset, source_dataset
from dpone_core.lineage.query_tables import query_tables
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import LineageDataset


@dataclass(frozen=True)
class ProcessDatasets:
    """The datasets one process reads and writes (a side is empty when its connection is a placeholder)."""

    inputs: tuple[LineageDataset, ...]
    outputs: tuple[LineageDataset, ...]
    query_source: bool = False
    """The inputs were parsed from a query: columns are not known to map one to one."""


def identity_columns(process: Process, target_columns: Sequence[str]) -> list[str]:
    """Target columns a table source feeds from its column of the same name, unchanged.

    Left out: columns dpone adds itself (scd2 validity, ``__dpone*``), columns outside the source's
    ``columns`` selection, and everything of a query source (a query may rename or compute).
    """
    if process.source.query is not None:
        return []
    added: set[str] = set()
    if process.sink.strategy == "scd2" or process.sink.scd2 is not None:
        scd2 = process.sink.scd2
        added = {scd2.valid_from, scd2.valid_to, scd2.is_current} if scd2 else {"valid_from", "valid_to", "is_current"}
    selected = set(process.source.columns) if process.source.columns else None
    return [
        column
        for column in target_columns
        if column not in added and not column.startswith("__dpone") and (selected is None or column in selected)
    ]


def source_datasets(loaded: LoadedManifest, process: Process) -> tuple[LineageDataset, ...]:
    """What the process reads: its table or path, or the tables its query names."""
    spec = process.source
    if spec.query is None:
        return (source_dataset(loaded, process),)
    dialect = connector(loaded.manifest.connections[spec.connection].type).sql_dialect
    tables = query_tables(spec.query, dialect)
    if not tables:
        return (source_dataset(loaded, process),)
    return tuple(connection_dataset(loaded, spec.connection, table, None) for table in tables)


def process_datasets(loaded: LoadedManifest, process: Process, placeholders: Iterable[str] = ()) -> ProcessDatasets:
    """Datasets of a process; a side whose connection is a parse-time placeholder is left out.

    >>> # process_datasets(loaded, orders).outputs[0].uri -> 'duckdb:///…/warehouse.duckdb/analytics/orders'
    """
    skip = set(placeholders)
    inputs = () if process.source.connection in skip else source_datasets(loaded, process)
    outputs = () if process.sink.connection in skip else (sink_dataset(loaded, process),)
    return ProcessDatasets(inputs, outputs, process.source.query is not None)
