"""The context of one attempt and what it produces, plus the implicit rules a process adds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from dpone_core.connections.registry import connector
from dpone_core.manifest.contract import ColumnRule, SchemaContract
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.manifest.references import resolve_setting
from dpone_core.model import TargetColumn
from dpone_core.runtime.progress import ProgressTracker
from dpone_core.runtime.report import RunResult
from dpone_core.spi.spec import ConnectorSpec
from dpone_core.strategies.plan import Scd2Spec


@dataclass
class RunContext:
    """Everything one attempt needs besides the manifest."""

    loaded: LoadedManifest
    process: Process
    run_id: str
    load_id: str
    restart: bool = False
    dry_run: bool = False
    partition: str | None = None
    chunk_keys: tuple[str, ...] | None = None
    """Set when this attempt finalizes a chunked load: the partition keys whose extracted chunks it commits."""
    progress: ProgressTracker | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def source_spec(self) -> ConnectorSpec:
        """The connector of the process's source connection."""
        return connector(self.loaded.manifest.connections[self.process.source.connection].type)

    @property
    def sink_spec(self) -> ConnectorSpec:
        """The connector of the process's sink connection."""
        return connector(self.loaded.manifest.connections[self.process.sink.connection].type)

    def path(self, value: str, key: str) -> Path:
        """A manifest path (``key`` names it in errors): references resolved, relative to the manifest's folder."""
        candidate = Path(resolve_setting(value, key, self.loaded.base_dir)).expanduser()
        return candidate if candidate.is_absolute() else self.loaded.base_dir / candidate


@dataclass
class AttemptOutcome:
    """What an attempt produced: the result and the final status."""

    status: str
    result: RunResult
    strategy: str


def history_columns(process: Process) -> tuple[TargetColumn, ...]:
    """The scd2 history columns dpone maintains on the target (none for other strategies)."""
    if process.sink.strategy != "scd2":
        return ()
    spec = process.sink.scd2 or Scd2Spec()
    ts = pa.timestamp("us", tz="UTC")
    return (
        TargetColumn(spec.valid_from, ts, False),
        TargetColumn(spec.valid_to, ts, True),
        TargetColumn(spec.is_current, pa.bool_(), False),
    )


def effective_contract(process: Process) -> SchemaContract:
    """The manifest's contract plus implicit rules: a delete marker column is a boolean."""
    contract = process.schema_contract or SchemaContract()
    marker = process.sink.delete_marker
    if marker is None or marker.column in contract.columns:
        return contract
    columns = {**contract.columns, marker.column: ColumnRule(type="boolean")}
    return contract.model_copy(update={"columns": columns})
