"""ClickHouse source and sink: Arrow streams in and out, a journalled publish instead of a transaction.

:mod:`.client` connects (HTTP, or chDB in-process) and maps errors; :mod:`.types` maps types;
:mod:`.source` reads; :mod:`.sink` stages, and :mod:`.commit` publishes with the lease of
:mod:`.lease`, the journal of :mod:`.bookkeeping` and the steps of :mod:`.publish`.
"""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.clickhouse.options import ClickHouseSinkOptions
from dpone_core.connectors.clickhouse.profile import ClickHouseProfile
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.references import resolve_params
from dpone_core.model import LineageDataset, TableRef
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, truthy
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, Maintenance, SinkRequest, SourceRequest
from dpone_core.strategies.plan import PartitionSpec


def _open_sink(request: SinkRequest) -> Any:
    from dpone_core.connectors.clickhouse.client import open_client
    from dpone_core.connectors.clickhouse.sink import ClickHouseSink

    profile = request.profile
    assert isinstance(profile, ClickHouseProfile)
    process, sink = request.process, request.process.sink
    schema, name = sink.table_parts()
    database = schema or profile.database
    options = request.options if isinstance(request.options, ClickHouseSinkOptions) else ClickHouseSinkOptions()
    partitions = process.partitions
    return ClickHouseSink(
        open_client(profile, request.base_dir),
        TableRef(database, name),
        staging_database=sink.options.staging_schema,
        meta_database=sink.options.meta_schema or database,
        options=options,
        partition=PartitionSpec(partitions.column, partitions.grain) if partitions else None,
        primary_key=tuple(sink.primary_key),
        adopt_staging=sink.strategy == "full_refresh" and sink.delete_marker is None,
    )


def _open_source(request: SourceRequest) -> Any:
    from dpone_core.connectors.clickhouse.client import open_client
    from dpone_core.connectors.clickhouse.source import ClickHouseSource

    profile = request.profile
    assert isinstance(profile, ClickHouseProfile)
    spec = request.process.source
    table = None
    if spec.table is not None:
        schema, name = split_table_name(spec.table)
        table = TableRef(schema or profile.database, name)
    client = open_client(profile, request.base_dir, use_database=True)
    return ClickHouseSource(
        client,
        database=profile.database,
        table=table,
        query=spec.query,
        params=resolve_params(spec.params, request.base_dir),
        where=client.where,
    )


def _lineage(request: DatasetRequest) -> LineageDataset:
    return request.server_table("clickhouse", "clickhouse", default_schema="")


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    extra = conn.extra
    profile: dict[str, Any] = {
        "type": "clickhouse",
        "host": conn.host or "localhost",
        "database": conn.schema or extra.get("database") or "default",
        "user": conn.login or "default",
        "password": secret("password", conn.password),
        "secure": truthy(extra.get("secure", False)),
    }
    if conn.port:
        profile["port"] = conn.port
    if "compression" in extra:
        profile["compression"] = extra["compression"]
    if isinstance(extra.get("settings"), dict):
        profile["settings"] = extra["settings"]
    return profile


def _probe(handle: Any) -> str | None:
    from dpone_core.connectors.clickhouse.probe import probe

    return probe(handle)


SPEC = ConnectorSpec(
    name="clickhouse",
    profile=ClickHouseProfile,
    summary="ClickHouse: Arrow streams, coalesced token-guarded inserts, an atomic swap or partition publish",
    capabilities=Capabilities(source=True, sink=True, key_bounds=True),
    extra="clickhouse",
    requires=("clickhouse_connect",),
    open_source=_open_source,
    open_sink=_open_sink,
    lineage=_lineage,
    sql_dialect="clickhouse",
    airflow=AirflowMapping(("clickhouse",), _from_airflow),
    maintenance=Maintenance(per_table=("OPTIMIZE TABLE {table} FINAL",)),
    probe=_probe,
    sink_options=ClickHouseSinkOptions,
)

__all__ = ["SPEC", "ClickHouseProfile", "ClickHouseSinkOptions"]
