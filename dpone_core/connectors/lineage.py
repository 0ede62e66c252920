"""Lineage names of a process's source and sink, computed from the manifest without connecting.

Orchestrators need dataset names at parse time (Airflow Assets, Dagster asset metadata) and in
OpenLineage events, long before (or without) a connection is opened. Each connector names its
datasets (``ConnectorSpec.lineage``) after the OpenLineage naming spec, as its ``lineage_name()``
does once connected:

* files: namespace ``file``, name = absolute glob path (or table folder)
* duckdb: namespace ``duckdb://<absolute file>``, name = ``schema.table``
* postgres: ``postgres://host:port``, ``database.schema.table``
* mssql: ``sqlserver://host:port``, ``database.schema.table``
* clickhouse: ``clickhouse://host:port``, ``database.table``
* s3: ``s3://bucket``, ``prefix/path``
* kafka: ``kafka://first-bootstrap-server``, ``topic``

References (``${env:PGHOST}``) are resolved when they can be, without registering secrets (hosts
and paths are not secrets); an unresolved reference is kept as written.
"""

from __future__ import annotations

from dpone_core.connections.registry import connector
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import LineageDataset, TableRef
from dpone_core.spi.spec import DatasetRequest

__all__ = ["LineageDataset", "connection_dataset", "sink_dataset", "source_dataset"]


def connection_dataset(
    loaded: LoadedManifest, connection: str, table: TableRef | None, path: str | None
) -> LineageDataset:
    """The dataset ``table`` (or ``path``) of a manifest connection, named by its connector."""
    profile = loaded.manifest.connections[connection]
    spec = connector(profile.type)
    request = DatasetRequest(profile, loaded.base_dir, table, path)
    if spec.lineage is None:
        name = path or (table.display() if table else "query")
        return LineageDataset(f"{profile.type}://{connection}", name, profile.type)
    return spec.lineage(request)


def source_dataset(loaded: LoadedManifest, process: Process) -> LineageDataset:
    """The dataset a process reads (a query source is named ``query`` in its database's namespace)."""
    spec = process.source
    table = TableRef(*split_table_name(spec.table)) if spec.table else None
    return connection_dataset(loaded, spec.connection, table, spec.path)


def sink_dataset(loaded: LoadedManifest, process: Process) -> LineageDataset:
    """The dataset a process writes."""
    schema, name = process.sink.table_parts()
    return connection_dataset(loaded, process.sink.connection, TableRef(schema, name), None)
