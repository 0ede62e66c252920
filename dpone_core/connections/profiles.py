"""Connection profiles: one pydantic model per system, selected by ``type``.

Values that are secrets (passwords, keys) must be references (``${env:...}``, ``${file:...}``,
``airflow:<conn_id>`` handled by the Airflow provider); a literal secret in a manifest is a
manifest error, because manifests end up in git. Profiles are resolved to concrete values only by
the connector that opens them (see :func:`resolved`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from dpone_core.connections.references import UnresolvedReference, is_reference, resolve_references
from dpone_core.manifest.base import StrictModel

Reference = Annotated[str, StringConstraints(pattern=r"^\$\{(env|file):[^}]+\}$")]
"""A string that is exactly one reference, accepted where a typed value (a port) is expected."""

_MEMORY = r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|B|bytes)?\s*$"
"""A size DuckDB accepts: a number and a unit (KB, MB, GB, TB, their KiB forms, or bytes)."""

SECRET_FIELDS = frozenset({"password", "secret_access_key", "sasl_password", "token", "session_token"})


def _secret_must_be_reference(value: str | None) -> str | None:
    if value is None or is_reference(value) or value.startswith("airflow:"):
        return value
    raise ValueError("secrets must be references such as ${env:NAME} or ${file:path}, not literal values")


class FilesProfile(StrictModel):
    """A local directory; source and sink paths are relative to ``root``."""

    type: Literal["files"]
    root: str = Field(".", description="Directory; a relative root resolves against the manifest's folder.")


class DuckDBProfile(StrictModel):
    """A DuckDB database file (``:memory:`` is refused: state would not survive the run)."""

    type: Literal["duckdb"]
    path: str = Field(description="Database file; a relative path resolves against the manifest's folder.")
    threads: int | None = Field(None, ge=1, description="DuckDB worker threads; default is DuckDB's own.")
    memory_limit: str | None = Field(None, description="DuckDB memory limit such as '1GB' or '512MiB'.")

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # unset: DuckDB's default
        if not re.match(_MEMORY, value):
            raise ValueError(f"'{value}' is not a size; write a number and a unit such as 512MB, 4GB or 2GiB")
        return value

    @field_validator("path")
    @classmethod
    def _not_memory(cls, value: str) -> str:
        if value.strip() == ":memory:":
            raise ValueError("':memory:' cannot keep state between runs; give a file path")
        if not value.strip():
            raise ValueError("path cannot be empty; give a database file such as warehouse.duckdb")
        return value


class PostgresProfile(StrictModel):
    """A PostgreSQL server reached over libpq."""

    type: Literal["postgres"]
    host: str = "localhost"
    port: int | Reference = 5432
    database: str
    user: str | None = None
    password: str | None = None
    service: str | None = Field(None, description="libpq service name from pg_service.conf.")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    options: str | None = None
    connect_timeout_seconds: int = Field(10, ge=1)
    statement_timeout_seconds: int | None = Field(None, ge=1)
    lock_timeout_seconds: int | None = Field(None, ge=1)
    lease_wait_seconds: int | None = Field(
        None, ge=1, description="Wait this long for another run's finalize lease; unset: fail fast (already running)."
    )

    _check_password = field_validator("password")(_secret_must_be_reference)


class MSSQLProfile(StrictModel):
    """A Microsoft SQL Server reached through ODBC."""

    type: Literal["mssql"]
    host: str
    port: int | Reference = 1433
    database: str
    user: str | None = None
    password: str | None = None
    driver: str = "ODBC Driver 18 for SQL Server"
    encrypt: bool = True
    trust_server_certificate: bool = False

    _check_password = field_validator("password")(_secret_must_be_reference)


class ClickHouseProfile(StrictModel):
    """A ClickHouse server reached over HTTP(S)."""

    type: Literal["clickhouse"]
    host: str = "localhost"
    port: int | Reference = 8123
    database: str = "default"
    user: str = "default"
    password: str | None = None
    secure: bool = False

    _check_password = field_validator("password")(_secret_must_be_reference)


class S3Profile(StrictModel):
    """An S3 (or S3-compatible) bucket."""

    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None

    _check_secret = field_validator("secret_access_key", "session_token")(_secret_must_be_reference)


class KafkaProfile(StrictModel):
    """A Kafka cluster."""

    type: Literal["kafka"]
    bootstrap_servers: str
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None

    _check_password = field_validator("sasl_password")(_secret_must_be_reference)


ConnectionProfile = Annotated[
    FilesProfile | DuckDBProfile | PostgresProfile | MSSQLProfile | ClickHouseProfile | S3Profile | KafkaProfile,
    Field(discriminator="type"),
]

CONNECTION_TYPES = ("files", "duckdb", "postgres", "mssql", "clickhouse", "s3", "kafka")


def _port(text: str, reference: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise UnresolvedReference(reference, f"port resolved to {text!r}, which is not a port number") from None
    if not 0 < port < 65536:
        raise UnresolvedReference(reference, f"port resolved to {port}, outside 1-65535")
    return port


def resolved(profile: StrictModel, base_dir: Path | None = None) -> dict[str, object]:
    """Return the profile's values with every reference resolved (secrets registered for redaction).

    Raises :class:`dpone_core.connections.references.UnresolvedReference` for a missing env var/file,
    or a value its key cannot take (a port that is not a number).
    """
    values: dict[str, object] = {}
    for name, value in profile.model_dump().items():
        if isinstance(value, str):
            resolved_value: object = resolve_references(value, base_dir=base_dir, secret=name in SECRET_FIELDS)
            if name == "port" and isinstance(resolved_value, str):
                resolved_value = _port(resolved_value, value)
            values[name] = resolved_value
        else:
            values[name] = value
    return values
