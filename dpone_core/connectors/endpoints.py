"""Open the source and sink of a process through their connector's spec (drivers load only when used)."""

from __future__ import annotations

from pathlib import Path

from dpone_core.connections.registry import connector
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.models import Manifest
from dpone_core.manifest.process import Process
from dpone_core.model import TableRef
from dpone_core.model.strict import StrictModel
from dpone_core.spi.ports import Sink, Source
from dpone_core.spi.spec import ConnectorSpec, SinkRequest, SourceRequest


def source_table(process: Process) -> TableRef | None:
    """The source table as a TableRef (None for query and path sources)."""
    if process.source.table is None:
        return None
    schema, name = split_table_name(process.source.table)
    return TableRef(schema, name)


def sink_table(process: Process) -> TableRef:
    """The sink table as a TableRef."""
    schema, name = process.sink.table_parts()
    return TableRef(schema, name)


def _usable(spec: ConnectorSpec, role: str) -> None:
    """Fail as configuration (exit 2) when the connector cannot play ``role`` or its extra is missing."""
    opener = spec.open_source if role == "source" else spec.open_sink
    if opener is None:
        raise ConfigurationError(
            f"the {spec.name} connector cannot be a {role} in this version ({spec.summary})",
            step="connect",
            fix=f"use another connection as the {role}",
        )
    missing = spec.missing_modules()
    if missing:
        raise ConfigurationError(
            f"the {spec.name} connector needs {', '.join(missing)}, which is not installed",
            step="connect",
            fix=f"pip install 'dpone[{spec.extra}]'" if spec.extra else f"install {', '.join(missing)}",
        )


def open_sink(
    manifest: Manifest, process: Process, base_dir: Path, *, read_only: bool = False, loading: bool = False
) -> Sink:
    """Connect to the process's sink.

    ``read_only`` for plans: nothing is created or locked for writing. ``loading`` when a load
    follows: a sink may open its bulk session early (Postgres opens its ADBC session meanwhile).
    """
    profile = manifest.connections[process.sink.connection]
    spec = connector(profile.type)
    _usable(spec, "sink")
    assert spec.open_sink is not None
    options = _parsed(spec.sink_options, dict(process.sink.options.model_extra or {}))
    return spec.open_sink(
        SinkRequest(profile, base_dir, process, read_only=read_only, loading=loading, options=options)
    )


def open_source(manifest: Manifest, process: Process, base_dir: Path, sink: Sink | None = None) -> Source:
    """Connect to the process's source (the connector may share ``sink``'s connection)."""
    profile = manifest.connections[process.source.connection]
    spec = connector(profile.type)
    _usable(spec, "source")
    assert spec.open_source is not None
    options = _parsed(spec.source_options, process.source.options)
    return spec.open_source(SourceRequest(profile, base_dir, process, sink, options=options))


def _parsed(model: type[StrictModel] | None, options: dict[str, object]) -> StrictModel | None:
    """The connector's options as its model (the manifest was validated, so this parses)."""
    return None if model is None else model.model_validate(options)
