"""The ``s3`` connection profile: a bucket (and prefix) on AWS S3 or an S3-compatible store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dpone_core.connections.profile import ConnectionProfile, Secret


class S3Profile(ConnectionProfile):
    """An S3 (or MinIO, R2, moto...) bucket; keys of sources and sinks are relative to ``prefix``.

    Without ``access_key_id`` and ``profile_name`` the default AWS chain applies (environment,
    shared config, instance or task role).
    """

    type: Literal["s3"]
    bucket: str = Field(..., min_length=3, max_length=63, description="Bucket name.")
    prefix: str = Field("", description="Key prefix every path of this connection is under (a folder).")
    region: str | None = Field(None, description="Bucket region; found from the bucket when not given (AWS only).")
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint such as http://127.0.0.1:9000 (MinIO, R2, moto); AWS when unset."
    )
    access_key_id: str | None = Field(None, description="Access key id; with secret_access_key.")
    secret_access_key: Secret | None = None
    session_token: Secret | None = None
    profile_name: str | None = Field(None, description="A profile of the shared AWS config files to take keys from.")
    path_style: bool | None = Field(
        None,
        description="Address buckets in the path (http://host/bucket/key) rather than the host name; "
        "unset: path style for a custom endpoint, virtual hosts on AWS.",
    )
    max_connections: int = Field(16, ge=1, le=1024, description="Connections to the store at most (boto3 pool).")
    timeout_seconds: float = Field(60.0, gt=0, description="Connect and request timeout.")
