"""Open the source and sink of a process; connector modules are imported only when used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpone_core.connections.profiles import DuckDBProfile, FilesProfile, PostgresProfile, resolved
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.models import Manifest
from dpone_core.manifest.process import Process
from dpone_core.manifest.references import resolve_params, resolve_setting
from dpone_core.model import TableRef

SOURCE_TYPES = ("files", "duckdb", "postgres")
SINK_TYPES = ("duckdb", "files", "postgres")


def _files_root(profile: FilesProfile, base_dir: Path) -> Path:
    root = Path(str(resolved(profile, base_dir)["root"])).expanduser()
    return root if root.is_absolute() else base_dir / root


def source_table(process: Process) -> TableRef | None:
    """The source table as a TableRef (None for query and path sources)."""
    if process.source.table is None:
        return None
    schema, name = split_table_name(process.source.table)
    return TableRef(schema, name)


def sink_table(process: Process) -> TableRef:
    """The sink table as a TableRef."""
    schema, name = process.sink.table_parts()
    return TableRef(schema, name)


def open_sink(
    manifest: Manifest, process: Process, base_dir: Path, *, read_only: bool = False, loading: bool = False
) -> Any:
    """Connect to the process's sink.

    ``read_only`` for plans: nothing is created or locked for writing. ``loading`` when a load
    follows: a sink may open its bulk session early (Postgres opens its ADBC session meanwhile).
    """
    profile = manifest.connections[process.sink.connection]
    options = process.sink.options
    if isinstance(profile, DuckDBProfile):
        from dpone_core.connectors.duckdb.sink import DuckDBSink

        return DuckDBSink(
            profile, base_dir, sink_table(process), options.staging_schema, options.meta_schema, read_only=read_only
        )
    if isinstance(profile, PostgresProfile):
        from dpone_core.connectors.postgres.sink import PostgresSink

        return PostgresSink(
            profile,
            base_dir,
            sink_table(process),
            options.staging_schema,
            options.meta_schema,
            process.name,
            loading=loading and not read_only,
        )
    if isinstance(profile, FilesProfile):
        from dpone_core.connectors.files.sink import ParquetDirectorySink

        return ParquetDirectorySink(_files_root(profile, base_dir), process.sink.table)
    raise ConfigurationError(
        f"no sink connector for connection type '{profile.type}' in this version (available: {', '.join(SINK_TYPES)})",
        step="connect",
        fix="use a supported sink type",
    )


def open_source(manifest: Manifest, process: Process, base_dir: Path, sink: Any = None) -> Any:
    """Connect to the process's source (sharing the sink's DuckDB connection for the same file)."""
    profile = manifest.connections[process.source.connection]
    spec = process.source
    if isinstance(profile, FilesProfile):
        from dpone_core.connectors.files.source import FilesSource

        assert spec.path is not None and spec.format is not None
        pattern = resolve_setting(spec.path, "source.path", base_dir)
        return FilesSource(_files_root(profile, base_dir), pattern, spec.format, spec.csv)
    if isinstance(profile, DuckDBProfile):
        from dpone_core.connectors.duckdb.connection import database_path
        from dpone_core.connectors.duckdb.source import DuckDBSource

        shared = getattr(sink, "con", None) if getattr(sink, "path", None) == database_path(profile, base_dir) else None
        params = resolve_params(spec.params, base_dir)
        return DuckDBSource(profile, base_dir, table=source_table(process), query=spec.query, params=params, con=shared)
    if isinstance(profile, PostgresProfile):
        from dpone_core.connectors.postgres.source import PostgresSource

        return PostgresSource(
            profile,
            base_dir,
            table=source_table(process),
            query=spec.query,
            params=resolve_params(spec.params, base_dir),
            process=process.name,
        )
    raise ConfigurationError(
        f"no source connector for connection type '{profile.type}' in this version "
        f"(available: {', '.join(SOURCE_TYPES)})",
        step="connect",
        fix="use a supported source type",
    )
