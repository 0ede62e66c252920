"""PostgreSQL source and sink: binary COPY through the ADBC driver, finalize in one transaction.

``profile``-level details live in :mod:`.connection`, the catalog <-> Arrow type map in :mod:`.types`,
SQL rendering in :mod:`.sql`; :mod:`.source` and :mod:`.sink` implement the ports.
"""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.postgres.options import PostgresSourceOptions
from dpone_core.connectors.postgres.profile import PostgresProfile
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.references import resolve_params
from dpone_core.model import LineageDataset, TableRef
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, Maintenance, SinkRequest, SourceRequest


def _open_sink(request: SinkRequest) -> Any:
    from dpone_core.connectors.postgres.sink import PostgresSink

    assert isinstance(request.profile, PostgresProfile)
    sink, options = request.process.sink, request.process.sink.options
    schema, name = sink.table_parts()
    return PostgresSink(
        request.profile,
        request.base_dir,
        TableRef(schema, name),
        options.staging_schema,
        options.meta_schema,
        request.process.name,
        loading=request.loading and not request.read_only,
    )


def _open_source(request: SourceRequest) -> Any:
    from dpone_core.connectors.postgres.source import PostgresSource

    assert isinstance(request.profile, PostgresProfile)
    spec = request.process.source
    options = request.options if isinstance(request.options, PostgresSourceOptions) else PostgresSourceOptions()
    table = None
    if spec.table is not None:
        schema, name = split_table_name(spec.table)
        table = TableRef(schema, name)
    return PostgresSource(
        request.profile,
        request.base_dir,
        table=table,
        query=spec.query,
        params=resolve_params(spec.params, request.base_dir),
        process=request.process.name,
        parallel_reads=options.parallel_reads,
    )


def _lineage(request: DatasetRequest) -> LineageDataset:
    return request.server_table("postgres", "postgres", default_schema="public")


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    extra = conn.extra
    profile: dict[str, Any] = {
        "type": "postgres",
        "host": conn.host or "localhost",
        "port": conn.port or 5432,
        "database": conn.schema or extra.get("dbname") or "postgres",
        "user": conn.login,
        "password": secret("password", conn.password),
    }
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options", "service"):
        if extra.get(key):
            profile[key] = extra[key]
    if extra.get("connect_timeout"):
        profile["connect_timeout_seconds"] = int(extra["connect_timeout"])
    return profile


def _probe(handle: Any) -> str | None:
    from dpone_core.connectors.postgres.sink import PostgresSink
    from dpone_core.connectors.postgres.source import PostgresSource

    if not isinstance(handle, PostgresSink | PostgresSource):
        return None
    handle.adbc_session()  # the session that COPYs opens too (it connects by itself)
    return "and its COPY session"


SPEC = ConnectorSpec(
    name="postgres",
    profile=PostgresProfile,
    summary="PostgreSQL: binary COPY through ADBC, one-transaction finalize, a binary relay PG -> PG",
    capabilities=Capabilities(
        source=True,
        sink=True,
        transactional=True,
        direct_load=True,
        binary_relay=True,
        key_bounds=True,
        own_state_modes=frozenset({"xmin"}),
    ),
    extra="postgres",
    requires=("psycopg2", "adbc_driver_postgresql"),
    open_source=_open_source,
    open_sink=_open_sink,
    source_options=PostgresSourceOptions,
    lineage=_lineage,
    sql_dialect="postgres",
    airflow=AirflowMapping(("postgres", "postgresql"), _from_airflow),
    maintenance=Maintenance(per_table=("ANALYZE {table}",)),
    probe=_probe,
)

__all__ = ["SPEC", "PostgresProfile"]
