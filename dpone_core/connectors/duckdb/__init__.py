"""DuckDB: a database file as source (table or parameterised query) and sink (every strategy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpone_core.connections.profile import ConnectionProfile
from dpone_core.connectors.duckdb.profile import DuckDBProfile, database_path
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.references import resolve_params
from dpone_core.model import LineageDataset, TableRef
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, UnsupportedConnection
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, Maintenance, SinkRequest, SourceRequest


def _table(text: str | None) -> TableRef | None:
    if text is None:
        return None
    schema, name = split_table_name(text)
    return TableRef(schema, name)


def _open_sink(request: SinkRequest) -> Any:
    from dpone_core.connectors.duckdb.sink import DuckDBSink

    assert isinstance(request.profile, DuckDBProfile)
    sink, options = request.process.sink, request.process.sink.options
    schema, name = sink.table_parts()
    return DuckDBSink(
        request.profile,
        request.base_dir,
        TableRef(schema, name),
        options.staging_schema,
        options.meta_schema,
        read_only=request.read_only,
    )


def _open_source(request: SourceRequest) -> Any:
    from dpone_core.connectors.duckdb.sink import DuckDBSink
    from dpone_core.connectors.duckdb.source import DuckDBSource

    assert isinstance(request.profile, DuckDBProfile)
    spec = request.process.source
    path = database_path(request.profile, request.base_dir)
    # One DuckDB file is opened once per process: a sink already writing it lends its connection.
    shared = request.sink.con if isinstance(request.sink, DuckDBSink) and request.sink.path == path else None
    return DuckDBSource(
        request.profile,
        request.base_dir,
        table=_table(spec.table),
        query=spec.query,
        params=resolve_params(spec.params, request.base_dir),
        con=shared,
    )


def _lineage(request: DatasetRequest) -> LineageDataset:
    assert isinstance(request.profile, DuckDBProfile)
    db = database_path(request.profile, request.base_dir)
    table = request.table or TableRef(None, "query")
    name = f"{table.schema}.{table.name}" if table.schema else table.name
    return LineageDataset(f"duckdb://{db}", name, "duckdb", None, table.schema, table.name)


def _airflow_path(host: str | None, schema: str | None) -> str | None:
    """The file of a Connection, in both forms Airflow stores it.

    A field-form Connection keeps the path in ``host``. A URI-form one (``duckdb:///abs/w.duckdb``)
    is split by Airflow's URI parser: the part after the host goes to ``schema`` without its leading
    slash, so an empty host means the path was absolute.

    >>> _airflow_path("/data/w.duckdb", None), _airflow_path("", "data/w.duckdb"), _airflow_path("rel", "w.duckdb")
    ('/data/w.duckdb', '/data/w.duckdb', 'rel/w.duckdb')
    """
    if host and schema:
        return f"{host.rstrip('/')}/{schema}"
    if schema:
        return "/" + schema.lstrip("/")
    return host or None


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    path = _airflow_path(conn.host, conn.schema) or conn.extra.get("path")
    if not path:
        raise UnsupportedConnection(f"Airflow connection '{conn.conn_id}' (duckdb) has no file path in host")
    return {"type": "duckdb", "path": path}


def _lane(profile: ConnectionProfile, base_dir: Path) -> str:
    assert isinstance(profile, DuckDBProfile)
    try:
        return f"duckdb:{database_path(profile, base_dir)}"
    except LookupError:  # an unresolved reference in the path: one lane per connection name instead
        return f"duckdb:{profile.path}"


SPEC = ConnectorSpec(
    name="duckdb",
    profile=DuckDBProfile,
    summary="a DuckDB database file",
    capabilities=Capabilities(
        source=True,
        sink=True,
        transactional=True,
        direct_load=True,
        single_writer=True,
        enforces_keys=True,
        reads_files=frozenset({"parquet"}),
    ),
    open_source=_open_source,
    open_sink=_open_sink,
    lineage=_lineage,
    sql_dialect="duckdb",
    airflow=AirflowMapping(("duckdb",), _from_airflow),
    maintenance=Maintenance(per_connection=("CHECKPOINT",)),
    writer_lane=_lane,
)

__all__ = ["SPEC", "DuckDBProfile"]
