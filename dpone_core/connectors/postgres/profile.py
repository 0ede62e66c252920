"""The ``postgres`` connection profile: a server reached over libpq."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dpone_core.connections.profile import ConnectionProfile, Reference, Secret


class PostgresProfile(ConnectionProfile):
    """A PostgreSQL server reached over libpq."""

    type: Literal["postgres"]
    host: str = "localhost"
    port: int | Reference = 5432
    database: str
    user: str | None = None
    password: Secret | None = None
    service: str | None = Field(None, description="libpq service name from pg_service.conf.")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: str | None = Field(None, description="libpq sslrootcert: the CA file that verifies the server.")
    sslcert: str | None = Field(None, description="libpq sslcert: the client certificate file.")
    sslkey: str | None = Field(None, description="libpq sslkey: the client key file.")
    options: str | None = None
    connect_timeout_seconds: int = Field(10, ge=1)
    statement_timeout_seconds: int | None = Field(None, ge=1)
    lock_timeout_seconds: int | None = Field(None, ge=1)
    lease_wait_seconds: int | None = Field(
        None, ge=1, description="Wait this long for another run's finalize lease; unset: fail fast (already running)."
    )
