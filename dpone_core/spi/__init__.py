"""The connector SPI: what a connector declares (``ConnectorSpec``, ``Capabilities``) and implements (ports).

A public surface, with :mod:`dpone_core.api`: connectors outside this repository and the Airflow
and Dagster wrappers import from here, not from dpone's internal rooms. See
``docs/connectors/writing-a-connector.md``.
"""

from dpone_core.connections.profile import ConnectionProfile, Reference, Secret, display_value, resolved
from dpone_core.connections.references import Resolver, register_resolver
from dpone_core.connections.registry import ENTRY_POINT_GROUP, UnknownConnectionType, connector, connectors
from dpone_core.model.capabilities import ALL_STRATEGIES, Capabilities
from dpone_core.model.strict import StrictModel
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, SecretRef, UnsupportedConnection, truthy
from dpone_core.spi.ports import RelayRefused, Sink, SinkBase, Source, SourceBase
from dpone_core.spi.spec import ConnectorSpec, DatasetRequest, Maintenance, SinkRequest, SourceRequest

__all__ = [
    "ALL_STRATEGIES",
    "ENTRY_POINT_GROUP",
    "AirflowMapping",
    "Capabilities",
    "ConnectionFields",
    "ConnectionProfile",
    "ConnectorSpec",
    "DatasetRequest",
    "Maintenance",
    "Reference",
    "RelayRefused",
    "Resolver",
    "Secret",
    "SecretRef",
    "Sink",
    "SinkBase",
    "SinkRequest",
    "Source",
    "SourceBase",
    "SourceRequest",
    "StrictModel",
    "UnknownConnectionType",
    "UnsupportedConnection",
    "connector",
    "connectors",
    "display_value",
    "register_resolver",
    "resolved",
    "truthy",
]
