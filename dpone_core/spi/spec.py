"""``ConnectorSpec``: everything a connector declares, exported as ``SPEC`` by ``connectors/<name>/__init__.py``.

The runtime, the manifest validation, lineage, ``dpone doctor``, maintenance, the orchestration
lanes and the Airflow provider read a connector only through its spec. The spec's module must be
cheap to import (no drivers): ``open_source`` / ``open_sink`` import the connector's modules when
a run needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpone_core.connections.profile import ConnectionProfile, display_value
from dpone_core.model import LineageDataset, TableRef, server_dataset
from dpone_core.model.capabilities import Capabilities
from dpone_core.model.strict import StrictModel
from dpone_core.spi.airflow import AirflowMapping

if TYPE_CHECKING:
    from dpone_core.manifest.process import Process
    from dpone_core.spi.ports import Sink, Source


@dataclass(frozen=True)
class SourceRequest:
    """What ``open_source`` gets: the connection's profile, the manifest folder, the process."""

    profile: ConnectionProfile
    base_dir: Path
    process: Process
    sink: Sink | None = None
    """The run's sink, already open: a connector may share its connection (one DuckDB file)."""
    options: StrictModel | None = None
    """``source.options`` parsed by the connector's ``source_options`` model (None without one)."""


@dataclass(frozen=True)
class SinkRequest:
    """What ``open_sink`` gets; ``read_only`` for plans and sensors, ``loading`` when a load follows."""

    profile: ConnectionProfile
    base_dir: Path
    process: Process
    read_only: bool = False
    loading: bool = False
    options: StrictModel | None = None
    """The connector's own keys of ``sink.options``, parsed by its ``sink_options`` model."""


@dataclass(frozen=True)
class DatasetRequest:
    """What ``lineage`` names: a table (``table``) or files (``path``) of one connection."""

    profile: ConnectionProfile
    base_dir: Path
    table: TableRef | None = None
    path: str | None = None

    def server_table(self, scheme: str, system: str, default_schema: str) -> LineageDataset:
        """The table (or ``query``) on a host:port/database server, named without resolving secrets."""
        table = self.table or TableRef(None, "query")
        host, port, database = (display_value(self.profile, key, self.base_dir) for key in ("host", "port", "database"))
        return server_dataset(scheme, host, port, database, table.schema or default_schema, table.name, system)


@dataclass(frozen=True)
class Maintenance:
    """Statements ``dpone orchestrate stage --maintenance`` runs after loads: once per connection,
    and once per loaded table (``{table}`` is replaced by the quoted table name)."""

    per_connection: tuple[str, ...] = ()
    per_table: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector: its profile, abilities and entry points into it."""

    name: str
    """The connection ``type`` it serves."""
    profile: type[ConnectionProfile]
    summary: str
    capabilities: Capabilities = field(default_factory=Capabilities)
    extra: str | None = None
    """The pip extra that installs its drivers (``dpone[<extra>]``); None when the core has them."""
    requires: tuple[str, ...] = ()
    """Modules the extra installs (a missing one is reported as one line naming the extra)."""
    open_source: Callable[[SourceRequest], Source] | None = None
    open_sink: Callable[[SinkRequest], Sink] | None = None
    lineage: Callable[[DatasetRequest], LineageDataset] | None = None
    sql_dialect: str | None = None
    """sqlglot's name for the connector's SQL (``postgres``, ``tsql``...): lineage parses a query
    source with it to name the tables the query reads. None: the generic dialect."""
    airflow: AirflowMapping | None = None
    maintenance: Maintenance = field(default_factory=Maintenance)
    probe: Callable[[Any], str | None] | None = None
    """``dpone doctor``: after opening a source or sink, check what opening alone does not (a glob
    that matches nothing, a second session); return a note for the report or raise."""
    source_options: type[StrictModel] | None = None
    """The connector's own source settings, written under ``source.options``."""
    sink_options: type[StrictModel] | None = None
    """The connector's own sink settings, written under ``sink.options`` beside the generic ones."""
    writer_lane: Callable[[ConnectionProfile, Path], str] | None = None
    """For single-writer sinks: the key of what one writer holds (a database file), so processes
    writing it run one at a time."""

    def missing_modules(self) -> list[str]:
        """Modules of :attr:`requires` that are not installed."""
        import importlib.util

        missing = []
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                missing.append(module)
        return missing
