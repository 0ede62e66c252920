"""The base of every connection profile, secrets as a type, and resolving a profile's references.

A connector's profile model subclasses :class:`ConnectionProfile` with ``type: Literal["<name>"]``.
A field typed :data:`Secret` must be a reference (``${env:...}``, ``${file:...}``, or an
``airflow:<conn_id>`` handled by the Airflow provider): a literal secret in a manifest is a manifest
error, because manifests end up in git. Profiles are resolved to concrete values only by the
connector that opens them (:func:`resolved`), and resolved secrets are registered for redaction.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from dpone_core.connections.references import UnresolvedReference, is_reference, resolve_references
from dpone_core.model.strict import StrictModel


class _SecretMarker:
    """Field metadata marking a secret (found by :meth:`ConnectionProfile.secret_fields`)."""

    def __repr__(self) -> str:
        return "secret"


SECRET = _SecretMarker()


def _reference_only(value: str) -> str:
    if is_reference(value) or value.startswith("airflow:"):
        return value
    raise ValueError("secrets must be references such as ${env:NAME} or ${file:path}, not literal values")


Secret = Annotated[str, AfterValidator(_reference_only), SECRET]
"""A secret: only a reference may be written in a manifest; its value is masked wherever it appears."""

Reference = Annotated[str, StringConstraints(pattern=r"^\$\{[a-z][a-z0-9_]*:[^}]+\}$")]
"""A string that is exactly one reference, accepted where a typed value (a port) is expected."""


class ConnectionProfile(StrictModel):
    """Base of every connection profile; ``type`` names the connector that serves it."""

    type: str

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """Names of the fields typed :data:`Secret` (also as ``Secret | None``)."""
        return frozenset(
            name
            for name, field in cls.model_fields.items()
            if any(m is SECRET for m in field.metadata) or _marks_secret(field.annotation)
        )


def _marks_secret(annotation: object) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        _, *meta = typing.get_args(annotation)
        if any(m is SECRET for m in meta):
            return True
    return any(_marks_secret(arg) for arg in typing.get_args(annotation))


def resolved(profile: ConnectionProfile, base_dir: Path | None = None) -> dict[str, object]:
    """Return the profile's values with every reference resolved (secrets registered for redaction).

    Raises :class:`dpone_core.connections.references.UnresolvedReference` for a missing env var/file,
    or a value its key cannot take (a port that is not a number).
    """
    secrets = profile.secret_fields()
    values: dict[str, object] = {}
    for name, value in profile.model_dump().items():
        if isinstance(value, str):
            resolved_value: object = resolve_references(value, base_dir=base_dir, secret=name in secrets)
            if name == "port" and isinstance(resolved_value, str):
                resolved_value = _port(resolved_value, value)
            values[name] = resolved_value
        else:
            values[name] = value
    return values


def _port(text: str, reference: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise UnresolvedReference(reference, f"port resolved to {text!r}, which is not a port number") from None
    if not 0 < port < 65536:
        raise UnresolvedReference(reference, f"port resolved to {port}, outside 1-65535")
    return port


def display_value(profile: ConnectionProfile, name: str, base_dir: Path | None = None) -> str:
    """A non-secret field as text for names (lineage, lanes): references resolved where they can be,
    kept as written where not, never registered as secrets."""
    raw = getattr(profile, name, None)
    if raw is None:
        return ""
    text = str(raw)
    try:
        return resolve_references(text, base_dir=base_dir, secret=False)
    except UnresolvedReference:
        return text
