"""DponeHook: Airflow Connections as dpone connection profiles, and the calls into ``dpone_core``.

A manifest process can name an Airflow Connection instead of a manifest connection::

    source: {connection: "airflow:shop_db", table: public.orders}

Before a run the hook looks up every ``airflow:<conn_id>`` the manifest names, turns each into a dpone
profile (:func:`profile_from_connection`) and hands them to ``dpone_core.run`` in memory. Secrets
never enter a profile: a password becomes the reference ``${airflow:<conn_id>/password}``, which
dpone's resolver registry sends back to this module when the connector opens the connection
(:func:`resolve_airflow_secret` reads the Connection again, through Airflow). No file is written and
no environment variable is set; dpone registers the value for redaction when it resolves it, and
Airflow masks connection passwords in task logs too.

An optional connection of type ``dpone`` holds where manifests and registry files live
(``manifest_dir``, ``registry_paths`` in its extra).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.loader import LoadedManifest, load_manifest, read_yaml
from dpone_core.spi import connectors, register_resolver
from dpone_core.spi.airflow import AirflowMapping, ConnectionFields, UnsupportedConnection

AIRFLOW_SCHEME = "airflow"
"""Reference scheme of an Airflow Connection's secret: ``${airflow:<conn_id>/<key>}``."""

AIRFLOW_PREFIX = "airflow:"
"""Prefix of a process connection that names an Airflow Connection (``airflow:<conn_id>``)."""

log = logging.getLogger(__name__)


def connection_fields(conn: Any) -> ConnectionFields:
    """The fields of an ``airflow.sdk.Connection`` (or any object with the same attributes) the mappings read."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return ConnectionFields(
        conn.conn_id,
        (conn.conn_type or "").lower(),
        conn.host,
        conn.port,
        conn.schema,
        conn.login,
        conn.password,
        dict(extra or {}),
    )


@dataclass(frozen=True)
class MappedProfile:
    """A dpone profile built from an Airflow Connection, and the secret values its references stand for."""

    profile: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    """Profile key -> secret value (resolved again at run time; never written anywhere)."""


def airflow_mappings() -> dict[str, AirflowMapping]:
    """Airflow connection type -> the mapping of the connector that serves it."""
    found: dict[str, AirflowMapping] = {}
    for spec in connectors().values():
        if spec.airflow is not None:
            for conn_type in spec.airflow.conn_types:
                found.setdefault(conn_type, spec.airflow)
    return found


def profile_from_connection(conn: ConnectionFields) -> MappedProfile:
    """Map an Airflow Connection to a dpone connection profile (secrets as ``${airflow:...}`` references).

    The connector serving the Connection's type does the mapping (``ConnectorSpec.airflow``):
    Postgres, MSSQL and ClickHouse take the database from ``schema`` (as Airflow's own hooks do) and
    Postgres keeps the extras libpq reads (``sslmode``, certificates, ``options``, ``service``);
    ``aws`` needs ``bucket`` (and optionally ``prefix``) in its extra; ``kafka`` reads the
    ``bootstrap.servers`` / ``security.protocol`` / ``sasl.*`` keys of its extra; ``duckdb`` takes the
    file from ``host`` (or ``schema``); ``fs`` takes the folder from extra ``path``.

    >>> mapped = profile_from_connection(ConnectionFields("shop", "postgres", "db", 5433, "shop", "bob", "pw"))
    >>> mapped.profile["password"], mapped.profile["database"], list(mapped.secrets)
    ('${airflow:shop/password}', 'shop', ['password'])
    """
    mappings = airflow_mappings()
    mapping = mappings.get(conn.conn_type)
    if mapping is None:
        raise UnsupportedConnection(
            f"Airflow connection '{conn.conn_id}' has type '{conn.conn_type}', which dpone cannot use; supported: "
            + ", ".join(sorted(mappings))
        )
    secrets: dict[str, str] = {}

    def secret(key: str, value: str | None) -> str | None:
        if not value:
            return None
        secrets[key] = value
        return "${" + AIRFLOW_SCHEME + ":" + conn.conn_id + "/" + key + "}"

    profile = mapping.to_profile(conn, secret)
    return MappedProfile({k: v for k, v in profile.items() if v is not None}, secrets)


def resolve_airflow_secret(name: str, base_dir: Path | None) -> str:
    """``${airflow:<conn_id>/<key>}``: the secret ``key`` of Airflow Connection ``conn_id``, read now."""
    conn_id, slash, key = name.rpartition("/")
    if not slash or not conn_id:
        raise LookupError(f"write ${{airflow:<conn_id>/<key>}}, not ${{airflow:{name}}}")
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException and secrets-backend errors alike
        raise LookupError(f"Airflow connection {conn_id} cannot be read: {type(exc).__name__}") from None
    value = profile_from_connection(connection_fields(conn)).secrets.get(key)
    if value is None:
        raise LookupError(f"Airflow connection {conn_id} has no {key}")
    return value


register_resolver(AIRFLOW_SCHEME, resolve_airflow_secret)


def airflow_connection_ids(manifest_path: str | Path) -> list[str]:
    """The Airflow Connection ids a manifest's processes name (``connection: airflow:<id>``), sorted.

    Only the raw YAML is read, so this works before the manifest validates.
    """
    data, _ = read_yaml(Path(manifest_path))
    found: set[str] = set()
    for process in data.get("processes") or []:
        if not isinstance(process, dict):
            continue
        for role in ("source", "sink"):
            spec = process.get(role)
            ref = spec.get("connection") if isinstance(spec, dict) else None
            if isinstance(ref, str) and ref.startswith(AIRFLOW_PREFIX):
                found.add(ref.removeprefix(AIRFLOW_PREFIX))
    return sorted(found)


@dataclass(frozen=True)
class PreparedManifest:
    """A manifest path and the registry files (including the Airflow one) to run it with."""

    path: Path
    registry_paths: tuple[str, ...]
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Profiles mapped from Airflow Connections, by their manifest name (``airflow:<conn_id>``)."""
    placeholders: frozenset[str] = frozenset()
    """Connection names (``airflow:<id>``) that stand in for Airflow Connections not found (parse time only)."""

    def load(self) -> LoadedManifest:
        """Load and validate the manifest with its registries (raises ManifestError)."""
        return load_manifest(self.path, self.registry_paths, self.connections)


class DponeHook(BaseHook):
    """Runs dpone from Airflow: resolves manifests, maps Airflow Connections, calls ``dpone_core``.

    ``dpone_conn_id`` is optional: without it, manifest paths resolve against the working directory
    and only the registry files given by the caller are used.

    >>> hook = DponeHook()  # doctest: +SKIP
    >>> hook.run("/opt/airflow/dags/orders.yaml", run_id="daily_2026-11-23").passed  # doctest: +SKIP
    True
    """

    conn_name_attr = "dpone_conn_id"
    default_conn_name = "dpone_default"
    conn_type = "dpone"
    hook_name = "dpone"

    def __init__(self, dpone_conn_id: str | None = None, registry_paths: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dpone_conn_id = dpone_conn_id
        self.extra_registry_paths = tuple(registry_paths)
        self._settings: dict[str, Any] | None = None

    def get_conn(self) -> dict[str, Any]:
        """The settings of the ``dpone`` connection (``manifest_dir``, ``registry_paths``); ``{}`` without one."""
        if self._settings is None:
            settings: dict[str, Any] = {}
            if self.dpone_conn_id:
                conn = self.get_connection(self.dpone_conn_id)
                extra = dict(conn.extra_dejson or {})
                settings["manifest_dir"] = extra.get("manifest_dir") or conn.host or None
                paths = extra.get("registry_paths") or []
                if isinstance(paths, str):
                    paths = [p.strip() for p in paths.split(",") if p.strip()]
                settings["registry_paths"] = list(paths)
            self._settings = settings
        return self._settings

    def manifest_path(self, manifest: str | Path) -> Path:
        """Absolute manifest path; a relative one resolves against the connection's ``manifest_dir``."""
        path = Path(manifest).expanduser()
        base = self.get_conn().get("manifest_dir")
        if not path.is_absolute() and base:
            path = Path(base).expanduser() / path
        return path.resolve()

    def registry_paths(self) -> tuple[str, ...]:
        """Registry files from the ``dpone`` connection, then those passed to the hook."""
        base = self.get_conn().get("manifest_dir")
        resolved = []
        for item in self.get_conn().get("registry_paths", []):
            path = Path(item).expanduser()
            resolved.append(str(Path(base).expanduser() / path if base and not path.is_absolute() else path))
        return (*resolved, *self.extra_registry_paths)

    def mapped_profiles(self, conn_ids: Sequence[str], *, missing_ok: bool = False) -> dict[str, MappedProfile]:
        """Profiles for Airflow Connection ids; with ``missing_ok`` an unknown id is left out (parse time)."""
        mapped: dict[str, MappedProfile] = {}
        for conn_id in conn_ids:
            try:
                conn = self.get_connection(conn_id)
            except Exception as exc:  # AirflowNotFoundException and secrets-backend errors alike
                if missing_ok:
                    log.debug("Airflow connection %s not available: %s", conn_id, exc)
                    continue
                raise
            try:
                mapped[conn_id] = profile_from_connection(connection_fields(conn))
            except UnsupportedConnection as exc:
                # A type dpone cannot use (``generic`` when the Postgres provider is absent) must not
                # take the DAG down at parse time: a placeholder stands in and the task fails instead.
                if missing_ok:
                    log.debug("Airflow connection %s not usable at parse time: %s", conn_id, exc)
                    continue
                raise ConfigurationError(
                    str(exc), step="connect", fix=_UNSUPPORTED_FIX.format(conn_id=conn_id)
                ) from None
        return mapped

    @contextmanager
    def prepared(self, manifest: str | Path, *, missing_ok: bool = False) -> Iterator[PreparedManifest]:
        """Resolve the manifest and map the Airflow connections it names to profiles (in memory).

        With ``missing_ok`` (parse time) unknown Airflow connections get a placeholder profile of
        the shape the process needs, so the manifest still validates and the DAG still builds.
        """
        path = self.manifest_path(manifest)
        registries = self.registry_paths()
        conn_ids = airflow_connection_ids(path) if path.exists() else []
        mapped = self.mapped_profiles(conn_ids, missing_ok=missing_ok)
        connections = {AIRFLOW_PREFIX + cid: m.profile for cid, m in mapped.items()}
        placeholders = frozenset(AIRFLOW_PREFIX + cid for cid in conn_ids if cid not in mapped)
        for name in placeholders:
            connections[name] = _placeholder_profile(path, name.removeprefix(AIRFLOW_PREFIX))
        yield PreparedManifest(path, registries, connections, placeholders)

    def parse(self, manifest: str | Path) -> tuple[LoadedManifest, frozenset[str]]:
        """Load a manifest for building a DAG: Airflow connections that are missing get placeholders.

        Returns the validated manifest and the names of the placeholder connections (whose
        datasets are unknown until run time). Raises ManifestError for an invalid manifest.
        """
        with self.prepared(manifest, missing_ok=True) as prepared:
            return prepared.load(), prepared.placeholders

    def run(
        self,
        manifest: str | Path,
        selector: str | None = None,
        run_id: str | None = None,
        *,
        retry_attempts: int | None = None,
        restart: bool = False,
        dry_run: bool = False,
        partition: str | None = None,
        on_event: Callable[[Any], None] | None = None,
        query_params: Mapping[str, Any] | None = None,
        phase: str = "load",
        chunks: Sequence[str] | None = None,
    ) -> Any:
        """Run one process with ``dpone_core.run`` and return its RunReport (never raises for expected errors)."""
        import dpone_core

        try:
            with self.prepared(manifest) as prepared:
                return dpone_core.run(
                    prepared.path,
                    selector,
                    run_id,
                    prepared.registry_paths,
                    connections=prepared.connections,
                    retry_attempts=retry_attempts,
                    restart=restart,
                    dry_run=dry_run,
                    partition=partition,
                    on_event=on_event,
                    query_params=query_params,
                    phase=phase,
                    chunks=chunks,
                    # Airflow's OpenLineage listener emits this task's events (with dpone's facets).
                    lineage=False,
                )
        except ConfigurationError as exc:  # an Airflow Connection dpone cannot map: the task's one line
            return _failed_report(exc)

    def committed_loads(
        self, manifest: str | Path, selector: str, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Committed ``__dpone__loads`` rows of one process newer than ``since``, newest first."""
        import dpone_core

        with self.prepared(manifest) as prepared:
            return dpone_core.committed_loads(prepared.load(), selector, since)

    def test_connection(self) -> tuple[bool, str]:
        """Check that the ``dpone`` connection's manifest folder and registry files exist and validate."""
        from dpone_core.manifest.models import Registry

        settings = self.get_conn()
        folder = settings.get("manifest_dir")
        if folder and not Path(folder).expanduser().is_dir():
            return False, f"manifest_dir {folder} is not a folder"
        for path in self.registry_paths():
            try:
                data, _ = read_yaml(Path(path))
                Registry.model_validate(data)
            except Exception as exc:  # noqa: BLE001 - reported to the UI as text
                return False, f"registry {path}: {str(exc).splitlines()[0]}"
        return True, "dpone connection OK"


_UNSUPPORTED_FIX = (
    "give Airflow connection {conn_id} a type dpone maps (postgres, mssql, clickhouse, duckdb, fs, aws, kafka; "
    "install the Airflow provider of that type if the UI shows it as generic)"
)


def _failed_report(error: ConfigurationError) -> Any:
    """A failed RunReport for an error met before the run could start (the task fails with its one line)."""
    from dpone_core.api import ErrorEntry, RunReport, RunResult

    info = error.info()
    entry = ErrorEntry(
        code=info.code, message=info.message, step=info.step, fix=info.fix, line=info.one_line(), exit_code=2
    )
    return RunReport(passed=False, status="failed", attempts=0, max_attempts=0, result=RunResult(errors=[entry]))


def _placeholder_profile(manifest_path: Path, conn_id: str) -> dict[str, Any]:
    """A stand-in profile for an Airflow connection that is not available (e.g. while parsing a DAG).

    Files-shaped when the process reads or writes paths, DuckDB-shaped otherwise; never used to run.
    """
    data, _ = read_yaml(manifest_path)
    for process in data.get("processes") or []:
        for role in ("source", "sink"):
            spec = process.get(role) if isinstance(process, dict) else None
            named = isinstance(spec, dict) and spec.get("connection") == AIRFLOW_PREFIX + conn_id
            if named and (spec.get("path") or spec.get("format")):  # type: ignore[union-attr]
                return {"type": "files", "root": f"unresolved-airflow-connection-{conn_id}"}
    return {"type": "duckdb", "path": f"unresolved-airflow-connection-{conn_id}.duckdb"}


def dumps_safe(value: Any) -> Any:
    """Round-trip through JSON with dpone's redactor, so XCom values carry no secret and no datetime."""
    from dpone_core.redaction import redact

    return json.loads(redact(json.dumps(value, default=_json_default)))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
