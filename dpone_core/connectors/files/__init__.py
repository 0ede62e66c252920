"""Local files: CSV, Parquet and JSON lines as a source; a Parquet table committed by commit objects as a sink."""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.files.profile import FilesProfile, files_root
from dpone_core.connectors.object_store import TABLE_FORMATS, TABLE_STRATEGIES
from dpone_core.connectors.object_store.options import FileSourceOptions, TableSinkOptions
from dpone_core.model import LineageDataset
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, SinkRequest, SourceRequest


def _open_source(request: SourceRequest) -> Any:
    from dpone_core.connectors.object_store.local import LocalStore
    from dpone_core.connectors.object_store.source import open_file_set

    assert isinstance(request.profile, FilesProfile)
    return open_file_set(LocalStore(files_root(request.profile, request.base_dir)), request)


def _open_sink(request: SinkRequest) -> Any:
    from dpone_core.connectors.files.legacy import LegacyFolder
    from dpone_core.connectors.object_store.local import LocalStore
    from dpone_core.connectors.object_store.table_sink import ObjectTableSink
    from dpone_core.connectors.object_store.tables import open_table

    assert isinstance(request.profile, FilesProfile)
    root = files_root(request.profile, request.base_dir)
    sink = open_table(LocalStore(root), request, {})
    if isinstance(sink, ObjectTableSink):
        sink.legacy = LegacyFolder(root, sink.folder)
    return sink


def _lineage(request: DatasetRequest) -> LineageDataset:
    assert isinstance(request.profile, FilesProfile)
    root = files_root(request.profile, request.base_dir)
    if request.path is not None:
        where = root / request.path
    else:
        assert request.table is not None
        where = root.joinpath(*(p for p in (request.table.schema, request.table.name) if p))
    return LineageDataset("file", str(where), "files", path_based=True)


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    return {"type": "files", "root": conn.extra.get("path") or conn.host or "."}


def _probe(handle: Any) -> str | None:
    from dpone_core.connectors.object_store.source import FileSetSource

    if isinstance(handle, FileSetSource):
        handle.first()  # a files source is only usable if its glob matches something
    return None


SPEC = ConnectorSpec(
    name="files",
    profile=FilesProfile,
    summary="local CSV, Parquet and JSON-lines files; Parquet tables with commit objects",
    capabilities=Capabilities(
        source=True,
        sink=True,
        path_based=True,
        strategies=TABLE_STRATEGIES,
        table_formats=TABLE_FORMATS,
        skips_reread_rows=False,
        own_state_modes=frozenset({"files"}),
    ),
    open_source=_open_source,
    source_options=FileSourceOptions,
    open_sink=_open_sink,
    sink_options=TableSinkOptions,
    lineage=_lineage,
    airflow=AirflowMapping(("fs", "file"), _from_airflow),
    probe=_probe,
)

__all__ = ["SPEC", "FilesProfile"]
