"""The ``clickhouse`` connection profile: a server over HTTP(S), or an embedded engine (chDB)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dpone_core.connections.profile import ConnectionProfile, Reference, Secret

SettingValue = str | int | float | bool


class ClickHouseProfile(ConnectionProfile):
    """A ClickHouse server reached over HTTP(S) by clickhouse-connect, or chDB's in-process engine."""

    type: Literal["clickhouse"]
    interface: Literal["http", "chdb"] = Field(
        "http",
        description="'http': a server over HTTP(S); 'chdb': ClickHouse's engine inside this process "
        "(needs the chdb package and a data folder in path).",
    )
    host: str = "localhost"
    port: int | Reference | None = Field(None, description="HTTP port; default 8123, or 8443 with secure.")
    database: str = Field("default", description="Database of tables named without one.")
    user: str = "default"
    password: Secret | None = None
    secure: bool = Field(False, description="HTTPS (TLS) instead of HTTP.")
    verify: bool = Field(True, description="With secure: verify the server's certificate.")
    ca_cert: str | None = Field(None, description="With secure: the CA file that verifies the server.")
    compression: Literal["lz4", "zstd", "gzip", "none"] | bool = Field(
        True, description="HTTP compression: true picks the best the server offers, 'none'/false turns it off."
    )
    connect_timeout_seconds: int = Field(10, ge=1)
    send_receive_timeout_seconds: int = Field(300, ge=1)
    settings: dict[str, SettingValue] = Field(
        default_factory=dict, description="ClickHouse settings sent with every query (max_threads, ...)."
    )
    path: str | None = Field(None, description="chDB only: the engine's data folder (relative to the manifest).")

    @model_validator(mode="after")
    def _chdb_needs_path(self) -> ClickHouseProfile:
        if self.interface == "chdb" and not self.path:
            raise ValueError("interface chdb keeps its tables in a folder: set path (e.g. path: .dpone/chdata)")
        return self

    def default_port(self) -> int:
        """The HTTP port the server listens on by default for this profile."""
        return 8443 if self.secure else 8123
