"""Which connector serves a connection ``type``: dpone's own, then the ``dpone.connectors`` entry points.

A connector is registered by one entry point whose value is its spec, e.g.
``postgres = "dpone_core.connectors.postgres:SPEC"``. dpone's own connectors are listed in
``pyproject.toml`` the same way; they are also known here by module, so a run that uses only them
does not scan every installed distribution's entry points (tens of milliseconds in a large
environment). Specs are imported on first use and cached.

This module sits at the bottom of the import order (manifest validation needs the profile models)
and imports connectors only dynamically, by name.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpone_core.connections.profile import ConnectionProfile
    from dpone_core.spi.spec import ConnectorSpec

ENTRY_POINT_GROUP = "dpone.connectors"
BUILT_IN = {
    name: f"dpone_core.connectors.{name}"
    for name in ("files", "duckdb", "postgres", "mssql", "clickhouse", "s3", "kafka")
}

_lock = threading.RLock()
_specs: dict[str, ConnectorSpec] = {}
_plugins: dict[str, Any] | None = None


class UnknownConnectionType(ValueError):
    """No connector serves this connection type."""


def _entry_points() -> dict[str, Any]:
    global _plugins  # noqa: PLW0603 - one scan per process, guarded by the lock
    if _plugins is None:
        from importlib.metadata import entry_points

        _plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _plugins


def connector(kind: str) -> ConnectorSpec:
    """The spec of the connector serving ``kind`` (raises :class:`UnknownConnectionType`)."""
    with _lock:
        spec = _specs.get(kind)
        if spec is not None:
            return spec
        if kind in BUILT_IN:
            loaded = importlib.import_module(BUILT_IN[kind]).SPEC
        elif kind in _entry_points():
            try:
                loaded = _entry_points()[kind].load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not a traceback
                raise UnknownConnectionType(
                    f"the connector '{kind}' is registered but cannot be imported: {type(exc).__name__}: {exc}"
                ) from None
        else:
            known = sorted({*BUILT_IN, *_entry_points()})
            hint = difflib.get_close_matches(kind, known, n=1, cutoff=0.6)
            raise UnknownConnectionType(
                f"unknown connection type '{kind}'"
                + (f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(known)})")
            )
        if getattr(loaded, "name", None) != kind or not hasattr(loaded, "profile"):
            raise UnknownConnectionType(
                f"the connector registered as '{kind}' does not export a ConnectorSpec named so"
            )
        _specs[kind] = loaded
        return loaded


def connectors() -> dict[str, ConnectorSpec]:
    """Every connector known in this environment, by type (dpone's own first)."""
    with _lock:
        names = [*BUILT_IN, *sorted(n for n in _entry_points() if n not in BUILT_IN)]
    return {name: connector(name) for name in names}


def profile_model(kind: str) -> type[ConnectionProfile]:
    """The profile model of connection type ``kind``."""
    return connector(kind).profile


def parse_profile(value: Any) -> Any:
    """Validate a profile document with its connector's model (a pydantic before-validator).

    Already validated profiles pass through; errors keep their locations inside the profile.
    """
    from dpone_core.connections.profile import ConnectionProfile

    if isinstance(value, ConnectionProfile):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"a connection is a mapping with a type, not {type(value).__name__}")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise ValueError("a connection needs type (files, duckdb, postgres, ...)")
    return profile_model(kind).model_validate(value)
