"""Mapping an Airflow Connection to a connection profile, without importing Airflow.

Each connector that Airflow users reach through ``connection: airflow:<conn_id>`` declares an
:class:`AirflowMapping`: the Airflow connection types it serves and a function from the
Connection's fields to a profile document. Secrets never go into that document as values: the
function hands each to ``secret(key, value)``, which returns the reference the profile carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class UnsupportedConnection(ValueError):
    """An Airflow Connection that dpone cannot turn into a profile (its message says what is missing)."""


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow Connection a mapping reads."""

    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


SecretRef = Callable[[str, str | None], str | None]
"""``secret(key, value)``: the reference a profile carries for a secret value (None for no value)."""

AirflowMapper = Callable[[ConnectionFields, SecretRef], dict[str, Any]]


@dataclass(frozen=True)
class AirflowMapping:
    """The Airflow connection types a connector serves and how their fields become a profile."""

    conn_types: tuple[str, ...]
    to_profile: AirflowMapper


def truthy(value: Any) -> bool:
    """An Airflow extra's flag (``"true"``, ``1``, ``"require"``, ...) as a bool."""
    return str(value).strip().lower() in {"1", "true", "yes", "on", "require", "mandatory"}
