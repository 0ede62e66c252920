"""What a connector can do, declared once: the runtime asks these instead of asking which system it is."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_STRATEGIES = frozenset(
    {"full_refresh", "append", "incremental", "merge", "scd2", "snapshot_diff", "partition_replace"}
)


@dataclass(frozen=True)
class Capabilities:
    """The connector's abilities as a source and as a sink.

    Defaults describe a connector that does nothing yet (a profile that validates, so manifests can
    be written ahead of the connector); each connector switches on what it implements.
    """

    source: bool = False
    """It can read (``ConnectorSpec.open_source`` is set)."""
    sink: bool = False
    """It can write (``ConnectorSpec.open_sink`` is set)."""
    path_based: bool = False
    """It reads and writes files by path and format (``source.path`` + ``format``, ``sink.format``)
    instead of tables and queries."""
    strategies: frozenset[str] = field(default_factory=lambda: ALL_STRATEGIES)
    """Write strategies the sink supports (for a path-based sink: of its first table format)."""
    table_formats: dict[str, frozenset[str]] = field(default_factory=dict)
    """A path-based sink's ``sink.format`` values, each with the strategies it takes."""
    skips_reread_rows: bool = True
    """The sink can drop rows a lookback window reads again (keyed statements); file sinks only append."""
    transactional: bool = False
    """DDL, strategy, audit row and state commit in one transaction of the target."""
    direct_load: bool = False
    """The gated stream can go straight into the target inside the finalize (no staging)."""
    binary_relay: bool = False
    """The sink takes a same-system source's bytes without decoding them (``RelayOffer``)."""
    single_writer: bool = False
    """One run holds the whole target for its duration (DuckDB's file lock): nothing else can be mid-load."""
    enforces_keys: bool = False
    """The target's primary key rejects duplicates itself and the finalize reports that as
    ``DuplicateKeyError``, so the runtime may leave a new table's key check to it."""
    reads_files: frozenset[str] = frozenset()
    """File formats the sink's engine reads itself from a source's files, local or on a store (a
    ``FileScan``), checking the contract in SQL over the scan instead of receiving the rows as Arrow
    (DuckDB: ``parquet``)."""
    key_bounds: bool = False
    """The source can split a key column into ranges for ``partitions.ranges``."""
    own_state_modes: frozenset[str] = frozenset()
    """Incremental modes the source implements with state it keeps itself across runs (Postgres
    ``xmin``: a horizon; files and object stores ``files``: the loaded files), through
    ``use_held_state`` / ``held_state``. Every source takes ``cursor`` (the runtime filters rows)."""


def sink_strategies(can: Capabilities, table_format: str | None) -> frozenset[str]:
    """What a sink takes in ``table_format`` (the connector's strategies when it has no formats)."""
    if can.table_formats and table_format is not None:
        return can.table_formats.get(table_format, frozenset())
    return can.strategies
