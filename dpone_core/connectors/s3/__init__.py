"""S3 and S3-compatible object storage: the connection profile only (the connector is not built yet)."""

from __future__ import annotations

from typing import Any, Literal

from dpone_core.connections.profile import ConnectionProfile, Secret, display_value
from dpone_core.model import LineageDataset
from dpone_core.model.capabilities import Capabilities
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, UnsupportedConnection
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest


class S3Profile(ConnectionProfile):
    """An S3 (or S3-compatible) bucket."""

    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: Secret | None = None
    session_token: Secret | None = None


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


SPEC = ConnectorSpec(
    name="s3",
    profile=S3Profile,
    summary="S3 and S3-compatible object storage (profile only; connector not built yet)",
    capabilities=Capabilities(path_based=True),
    extra="s3",
    requires=("boto3",),
    lineage=_lineage,
    airflow=AirflowMapping(("aws",), _from_airflow),
)

__all__ = ["SPEC", "S3Profile"]
