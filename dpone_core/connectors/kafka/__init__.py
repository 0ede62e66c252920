"""Kafka: the connection profile only (the connector is not built yet)."""

from __future__ import annotations

from typing import Any, Literal

from dpone_core.connections.profile import ConnectionProfile, Secret, display_value
from dpone_core.model import LineageDataset
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, UnsupportedConnection
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest


class KafkaProfile(ConnectionProfile):
    """A Kafka cluster."""

    type: Literal["kafka"]
    bootstrap_servers: str
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None


def _lineage(request: DatasetRequest) -> LineageDataset:
    first = display_value(request.profile, "bootstrap_servers", request.base_dir).split(",")[0].strip()
    topic = request.table.name if request.table else "query"
    return LineageDataset(f"kafka://{first}", topic, "kafka", None, None, topic)


def _from_airflow(conn: ConnectionFields, secret: SecretRef) -> dict[str, Any]:
    extra = conn.extra
    servers = extra.get("bootstrap.servers") or extra.get("bootstrap_servers") or conn.host
    if not servers:
        raise UnsupportedConnection(f"Airflow connection '{conn.conn_id}' (kafka) has no bootstrap.servers")
    return {
        "type": "kafka",
        "bootstrap_servers": servers,
        "security_protocol": str(extra.get("security.protocol", "PLAINTEXT")).upper(),
        "sasl_mechanism": extra.get("sasl.mechanism") or extra.get("sasl.mechanisms"),
        "sasl_username": extra.get("sasl.username"),
        "sasl_password": secret("sasl_password", extra.get("sasl.password")),
    }


SPEC = ConnectorSpec(
    name="kafka",
    profile=KafkaProfile,
    summary="Kafka (profile only; connector not built yet)",
    extra="kafka",
    requires=("kafka",),
    lineage=_lineage,
    airflow=AirflowMapping(("kafka",), _from_airflow),
)

__all__ = ["SPEC", "KafkaProfile"]
