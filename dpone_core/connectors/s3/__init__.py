"""S3 and S3-compatible object storage: CSV, Parquet and JSON-lines file sets; Parquet tables as a sink.

Reading goes through pyarrow's native S3 filesystem (never fsspec) file by file; listings go
through boto3 a page at a time, so a prefix of a million keys is listed in bounded memory.
"""

from __future__ import annotations

from typing import Any

from dpone_core.connections.profile import display_value
from dpone_core.connectors.object_store import TABLE_FORMATS, TABLE_STRATEGIES
from dpone_core.connectors.object_store.options import FileSourceOptions, TableSinkOptions
from dpone_core.connectors.s3.profile import S3Profile
from dpone_core.model import LineageDataset
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, UnsupportedConnection
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, SinkRequest, SourceRequest


def _lineage(request: DatasetRequest) -> LineageDataset:
    profile, base = request.profile, request.base_dir
    prefix = display_value(profile, "prefix", base).strip("/")
    where = request.path or (request.table.name if request.table else "")
    key = "/".join(p for p in (prefix, where.lstrip("/")) if p)
    return LineageDataset(f"s3://{display_value(profile, 'bucket', base)}", key, "s3", path_based=True)


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    extra = conn.extra
    bucket = extra.get("bucket") or extra.get("bucket_name")
    if not bucket:
        raise UnsupportedConnection(
            f"Airflow connection '{conn.conn_id}' (aws) has no 'bucket' in its extra; "
            'add {"bucket": "..."} for dpone'
        )
    profile: dict[str, Any] = {
        "type": "s3",
        "bucket": bucket,
        "prefix": extra.get("prefix", ""),
        "region": extra.get("region_name"),
        "access_key_id": conn.login,
        "secret_access_key": secret("secret_access_key", conn.password),
        "session_token": secret("session_token", extra.get("aws_session_token")),
    }
    s3_config = (extra.get("service_config") or {}).get("s3") or {}
    endpoint = extra.get("endpoint_url") or s3_config.get("endpoint_url")
    if endpoint:
        profile["endpoint_url"] = endpoint
    return profile


def _open_source(request: SourceRequest) -> Any:
    from dpone_core.connectors.object_store.source import open_file_set
    from dpone_core.connectors.s3.store import S3Settings, S3Store

    assert isinstance(request.profile, S3Profile)
    return open_file_set(S3Store(S3Settings.of(request.profile, request.base_dir)), request)


def _open_sink(request: SinkRequest) -> Any:
    from dpone_core.connectors.object_store.tables import open_table
    from dpone_core.connectors.s3.store import S3Settings, S3Store

    assert isinstance(request.profile, S3Profile)
    store = S3Store(S3Settings.of(request.profile, request.base_dir))
    return open_table(store, request, store.delta_options())


def _probe(handle: Any) -> str | None:
    """``dpone doctor``: a source's prefix lists (and its glob matches); a sink's takes a put and a delete."""
    from dpone_core.connectors.object_store.source import FileSetSource
    from dpone_core.connectors.object_store.table_sink import ObjectTableSink
    from dpone_core.connectors.s3.store import S3Store

    if isinstance(handle, FileSetSource) and isinstance(handle.store, S3Store):
        note = handle.store.check_access(write=False)
        handle.first()
        return note
    if isinstance(handle, ObjectTableSink) and isinstance(handle.store, S3Store):
        return handle.store.check_access(write=True)
    return None


SPEC = ConnectorSpec(
    name="s3",
    profile=S3Profile,
    summary="S3 and S3-compatible object storage: CSV, Parquet and JSON-lines files; Parquet tables",
    capabilities=Capabilities(
        source=True,
        sink=True,
        path_based=True,
        strategies=TABLE_STRATEGIES,
        table_formats=TABLE_FORMATS,
        skips_reread_rows=False,
        own_state_modes=frozenset({"files"}),
    ),
    extra="s3",
    requires=("boto3",),
    open_source=_open_source,
    source_options=FileSourceOptions,
    open_sink=_open_sink,
    sink_options=TableSinkOptions,
    lineage=_lineage,
    airflow=AirflowMapping(("aws",), _from_airflow),
    probe=_probe,
)

__all__ = ["SPEC", "S3Profile"]
