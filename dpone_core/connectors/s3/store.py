"""An S3 bucket prefix as a store: boto3 for listings and small objects, pyarrow's S3 filesystem for data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from dpone_core.connections.profile import resolved
from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.object_store.store import ObjectInfo
from dpone_core.connectors.s3.errors import BOTO_ERRORS, s3_error
from dpone_core.connectors.s3.profile import S3Profile


@dataclass(frozen=True)
class S3Settings:
    """The profile with references resolved: what both clients are built from."""

    bucket: str
    prefix: str
    region: str | None
    endpoint_url: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    profile_name: str | None
    path_style: bool | None
    max_connections: int
    timeout_seconds: float

    @classmethod
    def of(cls, profile: S3Profile, base_dir: Path | None) -> S3Settings:
        """Resolve ``profile``'s references (secrets are registered for redaction)."""
        values = resolved(profile, base_dir)
        prefix = str(values["prefix"] or "").strip("/")
        return cls(
            bucket=str(values["bucket"]),
            prefix=f"{prefix}/" if prefix else "",
            **{name: values[name] for name in _PASSED},  # type: ignore[arg-type]
        )


_PASSED = (
    "region",
    "endpoint_url",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile_name",
    "path_style",
    "max_connections",
    "timeout_seconds",
)


class S3Store:
    """Objects below ``s3://bucket/prefix/``."""

    page_size = 1000
    """Keys per listing page (S3's maximum): what a listing holds in memory at once."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket, self.prefix = settings.bucket, settings.prefix

    # ---- clients ---------------------------------------------------------------------------------
    @cached_property
    def _session(self) -> Any:
        import boto3

        name = self.settings.profile_name
        try:
            return boto3.session.Session(profile_name=name) if name else boto3.session.Session()
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "connect to", self.uri(), "connect") from None

    @cached_property
    def client(self) -> Any:
        """A boto3 S3 client (listings, conditional puts, deletes)."""
        from botocore.config import Config

        s = self.settings
        style = "auto" if s.path_style is None else "path" if s.path_style else "virtual"
        config = Config(
            max_pool_connections=s.max_connections,
            connect_timeout=s.timeout_seconds,
            read_timeout=s.timeout_seconds,
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": style},
        )
        try:
            return self._session.client(
                "s3",
                region_name=s.region or ("us-east-1" if s.endpoint_url else None),
                endpoint_url=s.endpoint_url,
                aws_access_key_id=s.access_key_id,
                aws_secret_access_key=s.secret_access_key,
                aws_session_token=s.session_token,
                config=config,
            )
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "connect to", self.uri(), "connect") from None

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        """pyarrow's S3 filesystem for data files (native, multi-threaded reads and writes)."""
        s = self.settings
        options: dict[str, Any] = {
            "region": s.region or self._region(),
            "connect_timeout": s.timeout_seconds,
            "request_timeout": s.timeout_seconds,
        }
        if s.endpoint_url:
            url = urlsplit(s.endpoint_url)
            options["endpoint_override"] = url.netloc + url.path.rstrip("/")
            options["scheme"] = url.scheme or "https"
        if s.path_style is False:
            options["force_virtual_addressing"] = True
        key, secret, token = self._keys()
        if key:
            options.update(access_key=key, secret_key=secret, session_token=token)
        return pafs.S3FileSystem(**options)

    def _keys(self) -> tuple[str | None, str | None, str | None]:
        """Explicit keys, or those of ``profile_name``; all None leaves the default AWS chain to the client."""
        s = self.settings
        if s.access_key_id or not s.profile_name:
            return s.access_key_id, s.secret_access_key, s.session_token
        found = self._session.get_credentials()
        if found is None:
            from botocore.exceptions import NoCredentialsError

            raise s3_error(NoCredentialsError(), "connect to", self.uri(), "connect")
        frozen = found.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key, frozen.token

    def _region(self) -> str:
        """The bucket's region: us-east-1 for a custom endpoint, else asked of AWS."""
        if self.settings.endpoint_url:
            return "us-east-1"
        try:
            return str(pafs.resolve_s3_region(self.bucket))
        except OSError:
            return "us-east-1"

    # ---- the store port --------------------------------------------------------------------------
    def objects(self, pattern: FilePattern) -> Iterator[ObjectInfo]:
        """Matching objects in key order, one listing page in memory at a time."""
        start = self.prefix + pattern.literal_prefix
        depth = pattern.max_depth
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": start,
            "PaginationConfig": {"PageSize": self.page_size},
        }
        if depth == 1:
            kwargs["Delimiter"] = "/"  # one level: the store skips the sub-folders for us
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.prefix) :]
                    if key.endswith("/") or not pattern.matches(key):
                        continue
                    yield ObjectInfo(key, int(item["Size"]), item["LastModified"], str(item["ETag"]).strip('"'))
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "list", self.uri(pattern.literal_prefix), "extract") from None

    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object below ``prefix`` (relative to the connection's prefix), in key order."""
        kwargs = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "PaginationConfig": {"PageSize": self.page_size},
        }
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.prefix) :]
                    yield ObjectInfo(key, int(item["Size"]), item["LastModified"], str(item["ETag"]).strip('"'))
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "list", self.uri(prefix), "finalize") from None

    def create(self, key: str, body: bytes) -> bool:
        """``PutObject`` with ``If-None-Match: *``: False on 412 (the key exists) or 409 (a racing put)."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body, IfNoneMatch="*")
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise s3_error(exc, "create", self.uri(key), "finalize") from None
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "create", self.uri(key), "finalize") from None
        return True

    def read(self, key: str) -> bytes | None:
        """``GetObject``, or None for a missing key."""
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return bytes(answer["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise s3_error(exc, "read", self.uri(key), "finalize") from None
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "read", self.uri(key), "finalize") from None

    def delete(self, keys: list[str]) -> None:
        """``DeleteObjects`` in batches of 1,000."""
        try:
            for start in range(0, len(keys), 1000):
                batch = [{"Key": self.prefix + key} for key in keys[start : start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "delete under", self.uri(), "finalize") from None

    def open_output(self, key: str) -> pa.NativeFile:
        """pyarrow's S3 output stream (a multipart upload, completed on close)."""
        return self.filesystem.open_output_stream(self.path(key))

    def sync(self, keys: list[str]) -> None:
        """Nothing: a closed S3 upload is durable."""

    def delta_options(self) -> dict[str, str]:
        """delta-rs storage options for this bucket: the same endpoint, keys and addressing.

        Commits use S3's conditional puts (``conditional_put: etag``), so no lock table is needed.
        """
        s = self.settings
        options = {"AWS_REGION": s.region or self._region(), "conditional_put": "etag"}
        if s.endpoint_url:
            options["AWS_ENDPOINT_URL"] = s.endpoint_url
            if s.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        key, secret, token = self._keys()
        if key and secret:
            options.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        if token:
            options["AWS_SESSION_TOKEN"] = token
        if s.path_style is False:
            options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true"
        return options

    def path(self, key: str) -> str:
        """``bucket/prefix/key``: the path pyarrow's S3 filesystem takes."""
        return f"{self.bucket}/{self.prefix}{key}"

    def uri(self, key: str = "") -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def lineage_name(self, key: str) -> tuple[str, str]:
        """``s3://bucket`` and the key with its prefix."""
        return f"s3://{self.bucket}", f"{self.prefix}{key}"

    def check_access(self, write: bool) -> str:
        """List the prefix (and with ``write`` put and delete a probe key); a line on what worked."""
        import uuid

        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "list", self.uri(), "connect") from None
        if not write:
            return f"{self.uri()}: list ok"
        probe = f"{self.prefix}_dpone/probe/{uuid.uuid4().hex}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"dpone doctor probe")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except BOTO_ERRORS as exc:
            raise s3_error(exc, "put and delete a probe key under", self.uri(), "connect") from None
        return f"{self.uri()}: list, put and delete ok"
