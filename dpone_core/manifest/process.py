"""Manifest models for one process: its source, sink, policies and orchestration hints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from dpone_core.manifest.contract import SchemaContract, SchemaEvolution
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.model.strict import Name, StrictModel

Strategy = Literal[
    "full_refresh",
    "append",
    "incremental",
    "merge",
    "scd2",
    "snapshot_diff",
    "partition_replace",
]
STRATEGIES_NEEDING_KEY = frozenset({"merge", "scd2", "snapshot_diff"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def parse_duration_seconds(text: str) -> float:
    """Parse ``90s``, ``30m``, ``1h``, ``2d`` or ``1w`` into seconds.

    >>> parse_duration_seconds("1h")
    3600.0
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; use a number with s, m, h, d or w (e.g. 1h)")
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * factor


class Incremental(StrictModel):
    """Read only rows past the cursor kept in ``__dpone__state`` (never the target's MAX)."""

    mode: Literal["cursor", "xmin", "files"] = Field(
        "cursor",
        description="cursor: rows past the committed maximum of `cursor`; xmin: Postgres table sources only, "
        "rows written by transactions after the committed xmin horizon (no cursor column needed); files: file "
        "and object-store sources only, whole files not loaded before (new, or rewritten since), with `lookback` "
        "(default 1h) as the window of modification times in which keys and ETags are remembered.",
    )
    cursor: Name | None = Field(None, description="Source column whose maximum becomes the next run's cursor.")
    lookback: str | int | float | None = Field(
        None, description="Re-read this much before the cursor for late rows: a duration (1h) or a number."
    )
    initial: str | int | float | None = Field(None, description="Cursor to start from on the first run.")

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | int | float | None) -> str | int | float | None:
        if isinstance(value, str):
            parse_duration_seconds(value)
        elif isinstance(value, int | float) and value < 0:
            raise ValueError("lookback cannot be negative")
        return value

    @model_validator(mode="after")
    def _mode(self) -> Incremental:
        if self.mode == "cursor" and self.cursor is None:
            raise ValueError("incremental needs cursor (a source column), or mode: xmin")
        if self.mode == "xmin" and (self.cursor is not None or self.lookback or self.initial is not None):
            raise ValueError("incremental mode xmin takes no cursor, lookback or initial (the state holds the horizon)")
        if self.mode == "files" and (self.cursor is not None or self.initial is not None):
            raise ValueError("incremental mode files takes no cursor or initial (the state holds the loaded files)")
        if self.mode == "files" and isinstance(self.lookback, int | float):
            raise ValueError("incremental mode files takes lookback as a duration such as 1h")
        return self


class CsvOptions(StrictModel):
    """How CSV files are parsed."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    quote_char: str = Field('"', min_length=1, max_length=1)
    header: bool = True
    null_values: list[str] = Field(default_factory=lambda: [""])


class Source(StrictModel):
    """Where rows come from: a table, a parameterised query, or files matching a glob."""

    connection: Name
    table: str | None = Field(None, description='schema.table; a part may be SQL-quoted (public."Order Items").')
    query: str | None = Field(None, description="SELECT with named parameters (:name) bound from params.")
    params: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    path: str | None = Field(None, description="Glob relative to the files connection's root.")

    @field_validator("path")
    @classmethod
    def _relative_glob(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("path cannot be empty; give a glob such as 'orders*.csv'")
        if value.startswith(("/", "~")) or (len(value) > 1 and value[1] == ":"):
            raise ValueError(
                f"path '{value}' is absolute; paths are globs relative to the files connection's root "
                "(put the folder in the connection's root)"
            )
        return value

    format: Literal["csv", "parquet", "jsonl"] | None = None
    csv: CsvOptions | None = None
    columns: list[Name] | None = Field(None, min_length=1)
    column_names: Literal["as_is", "lower", "snake"] = Field(
        "as_is",
        description="Normalise source column names (lower, snake_case) before contracts, keys and the target "
        "use them; source.columns keeps the source's own names.",
    )
    incremental: Incremental | None = None
    options: dict[str, object] = Field(
        default_factory=dict,
        description="The source connector's own settings (its connector page lists them); checked against its model.",
    )
    batch_rows: int = Field(65_536, ge=1, description="Upper bound on rows per Arrow batch.")
    batch_bytes: int = Field(1 << 20, ge=1024, description="Target size of one Arrow batch in bytes.")

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str | None) -> str | None:
        if value is not None:
            split_table_name(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        kinds = [k for k in ("table", "query", "path") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of table, query or path")
        if self.path is not None and self.format is None:
            raise ValueError("a path source needs format: csv, parquet or jsonl")
        if self.path is None and (self.format is not None or self.csv is not None):
            raise ValueError("format/csv apply only to a path source")
        if self.params and self.query is None:
            raise ValueError("params apply only to a query source")
        if self.csv is not None and self.format != "csv":
            raise ValueError("csv options need format: csv")
        return self


class DeleteMarker(StrictModel):
    """A source column that marks a row as deleted."""

    column: Name
    mode: Literal["hard", "soft"] = Field(
        "hard", description="hard: delete the target row; soft: keep it with the marker set to true."
    )


class Scd2Columns(StrictModel):
    """Names of the history columns that scd2 maintains on the target."""

    valid_from: Name = "valid_from"
    valid_to: Name = "valid_to"
    is_current: Name = "is_current"


class PhysicalDesign(StrictModel):
    """Whether runtime DDL may be applied to the target and how."""

    apply_runtime: bool = Field(True, description="Create/alter the target as part of the load.")
    apply: Literal["online", "offline"] = Field(
        "online",
        description="online: refuse DDL that rewrites the table and blocks writers (type widening on Postgres, "
        "except a numeric's precision growing at the same scale); offline: allow it.",
    )


class SinkOptions(StrictModel):
    """Sink tuning that rarely needs changing, and the sink connector's own settings.

    Keys not listed here belong to the sink's connector (``ConnectorSpec.sink_options``) and are
    checked against its model when the manifest is validated.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, use_enum_values=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        return data  # the connector's keys: checked against its model by Manifest validation

    physical_design: PhysicalDesign = Field(default_factory=PhysicalDesign)
    staging_schema: str = Field("__dpone_staging", description="Schema for staging tables (created if missing).")
    meta_schema: str | None = Field(None, description="Schema of __dpone__state/__dpone__loads (default schema).")


class Sink(StrictModel):
    """Where rows go, and how they are written."""

    connection: Name
    table: str = Field(
        description='schema.table; a part may be SQL-quoted (public."Order Items") to hold dots or quotes. '
        "Identifiers are quoted for you: case and spaces are kept."
    )
    schema_name: str | None = Field(None, alias="schema", description="Schema, when the table name has dots.")
    strategy: Strategy = "append"
    primary_key: list[Name] = Field(default_factory=list)
    delete_marker: DeleteMarker | None = None
    scd2: Scd2Columns | None = None
    format: Literal["parquet", "delta"] | None = Field(
        None,
        description="File and object-store sinks only: parquet (files named by dpone's commit objects) or "
        "delta (a Delta Lake table, pip install 'dpone[delta]').",
    )
    options: SinkOptions = Field(default_factory=SinkOptions)

    @model_validator(mode="after")
    def _strategy_needs(self) -> Sink:
        if self.strategy in STRATEGIES_NEEDING_KEY and not self.primary_key:
            raise ValueError(f"strategy {self.strategy} needs primary_key")
        if self.delete_marker is not None and self.strategy not in {"merge", "scd2"}:
            raise ValueError("delete_marker applies only to merge and scd2")
        if self.scd2 is not None and self.strategy != "scd2":
            raise ValueError("scd2 columns apply only to strategy: scd2")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError("primary_key lists a column twice")
        return self

    @model_validator(mode="after")
    def _table_name(self) -> Sink:
        if self.schema_name is None:
            try:
                split_table_name(self.table)
            except ValueError as exc:
                raise ValueError(f"table: {exc}") from None
        elif not self.table.strip() or not self.schema_name.strip():
            raise ValueError("sink.table and sink.schema cannot be empty")
        return self

    def table_parts(self) -> tuple[str | None, str]:
        """Split ``table`` into (schema, name); an explicit ``schema`` keeps the name literal."""
        if self.schema_name is not None:
            return self.schema_name, self.table
        return split_table_name(self.table)


class Partitions(StrictModel):
    """How a process splits into slices for replay, backfill and scale-out."""

    column: Name
    grain: Literal["hour", "day", "week", "month", "year"] | None = None
    start: str | None = Field(None, description="First partition (ISO date/time) for time grains.")
    values: list[str | int] | None = Field(None, min_length=1)
    ranges: int | None = Field(None, ge=2, description="Split the key space into this many ranges.")
    chunk_dir: str = Field(
        ".dpone/chunks",
        description="Where the extract runs of a chunked load park their partitions (Arrow IPC files) until one "
        "finalize run commits them all; every worker must see it (a shared filesystem across machines).",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Partitions:
        kinds = [k for k in ("grain", "values", "ranges") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of grain, values or ranges")
        if self.start is not None and self.grain is None:
            raise ValueError("start applies only to time grains")
        if self.grain == "week" and self.start is not None and not _is_monday(self.start):
            # Week partitions are ISO weeks; a window from another weekday would straddle two of
            # them, and partition_replace (date_trunc('week')) would delete both.
            raise ValueError(f"week partitions start on a Monday; start {self.start} is not one")
        return self


def _is_monday(text: str) -> bool:
    """``text`` is an ISO date (or date-time) falling on a Monday; unparsable text is left to later checks."""
    try:
        return datetime.fromisoformat(text).weekday() == 0
    except ValueError:
        return True


class Orchestration(StrictModel):
    """Hints for schedulers: concurrency key (pool), grouping and ownership."""

    concurrency_key: str | None = None
    group: str | None = None
    owners: list[str] = Field(default_factory=list)
    execution_order: int | None = None


class Retry(StrictModel):
    """Retry policy for transient failures (also mapped to Airflow and Dagster retries)."""

    attempts: int = Field(0, ge=0, le=20, description="Retries after the first attempt.")
    backoff_seconds: float = Field(
        5.0, ge=0, allow_inf_nan=False, description="Wait before the first retry; later waits follow `backoff`."
    )
    backoff: Literal["fixed", "exponential"] = Field(
        "exponential",
        description="exponential: each wait doubles, up to 32x backoff_seconds; fixed: every wait is backoff_seconds.",
    )


class RuntimeEvidence(StrictModel):
    """Where evidence files are written; unset means no evidence files."""

    output_dir: str | None = None


class Quarantine(StrictModel):
    """Where rows rejected by a contract are written (Parquet, one file per load)."""

    dir: str = ".dpone/quarantine"


class Reconcile(StrictModel):
    """Compare the load's window of the source with the target's new version before the commit."""

    mode: Literal["count", "checksum", "rows"] = Field(
        "checksum",
        description="count: row counts only; checksum: key-segment checksums of the compared columns, "
        "descending into differing segments; rows: the same, listing the differing rows in the verdict.",
    )
    columns: list[str] | None = Field(None, description="Compared columns; default: every column both sides have.")
    sample: int = Field(20, ge=1, le=10_000, description="rows: how many differing rows the verdict lists.")
    block: bool = Field(
        True, description="A red verdict fails the load (nothing commits); false: it is a warning only."
    )


class Process(StrictModel):
    """One load: a source, a sink, a strategy, and the gates that guard it."""

    name: str = Field(max_length=128)
    selector: str | None = Field(None, description="Extra name this process can be selected by.")
    description: str | None = Field(None, description="What the loaded table holds; published to catalogs.")
    tags: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    source: Source
    sink: Sink
    schema_contract: SchemaContract | None = None
    schema_evolution: SchemaEvolution = Field(default_factory=SchemaEvolution)
    partitions: Partitions | None = None
    orchestration: Orchestration = Field(default_factory=Orchestration)
    retry: Retry = Field(default_factory=Retry)
    runtime_evidence: RuntimeEvidence = Field(default_factory=RuntimeEvidence)
    quarantine: Quarantine = Field(default_factory=Quarantine)
    reconcile: Reconcile | None = Field(
        None,
        description="A state-commit gate: reconcile the load's window between source and target before it commits.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("process names use letters, digits, '_', '-' and '.', starting with a letter or '_'")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Process:
        if self.sink.strategy == "incremental" and self.source.incremental is None:
            raise ValueError("strategy incremental needs source.incremental (a cursor column)")
        incremental = self.source.incremental
        lookback = incremental.lookback if incremental is not None and incremental.mode == "cursor" else None
        if lookback and self.sink.strategy == "append":
            raise ValueError("strategy append with a lookback would load rows twice; use incremental or merge")
        if lookback and self.sink.strategy == "incremental" and not self.sink.primary_key:
            raise ValueError("strategy incremental with a lookback needs sink.primary_key to skip re-read rows")
        xmin = self.source.incremental is not None and self.source.incremental.mode == "xmin"
        if xmin and self.source.table is None:
            raise ValueError("incremental mode xmin needs a table source (xmin is a column of a table's rows)")
        rereads_twice = self.sink.strategy == "append" or (
            self.sink.strategy == "incremental" and not self.sink.primary_key
        )
        if xmin and rereads_twice:
            raise ValueError(
                "incremental mode xmin may re-read rows of transactions open at the previous read; "
                "use merge, or incremental with sink.primary_key"
            )
        if self.sink.strategy == "partition_replace" and self.partitions is None:
            raise ValueError("strategy partition_replace needs partitions (the column whose slices are replaced)")
        if self.sink.delete_marker and self.sink.delete_marker.column in self.sink.primary_key:
            raise ValueError("sink.delete_marker.column cannot be part of primary_key")
        if self.reconcile is not None:
            self._reconcile_checks()
        return self

    def _reconcile_checks(self) -> None:
        if not self.sink.primary_key:
            raise ValueError("reconcile compares rows by key: set sink.primary_key")
        mode = self.source.incremental.mode if self.source.incremental is not None else "cursor"
        if mode != "cursor":
            raise ValueError(
                f"reconcile re-reads the load's window by cursor; incremental mode {mode} has none (use a cursor)"
            )
