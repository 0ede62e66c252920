"""When a load may skip staging and stream straight into its target (a *direct* load).

A direct load writes every row once, but it streams the whole source inside the finalize
transaction, so every lock that transaction takes is held until the last source row arrives.
The rules below keep that from blocking readers or waiting on the load's own source.
"""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.registry import sink_table, source_table
from dpone_core.gates.contract import ContractGate
from dpone_core.gates.evolution import EvolutionPlan
from dpone_core.manifest.process import Process
from dpone_core.runtime.read_plan import OpenedRead


def source_may_read_target(process: Process, source: Any = None, sink: Any = None) -> bool:
    """The source reads the target's database with a query or a view (either may select from the
    target), or reads the target table itself.

    The same database is the same connection name or, for two Postgres connections, the same
    host, port, database and service (two names for one server are common: a read-only role and a
    loader). While it streams, the source holds ACCESS SHARE on what it reads; a finalize that locks
    the target ACCESS EXCLUSIVE (TRUNCATE, ALTER TABLE) before the stream ends would wait on it
    forever.
    """
    if process.source.connection != process.sink.connection and not _same_database(source, sink):
        return False
    if process.source.query is not None:
        return True
    table, target = source_table(process), sink_table(process)
    if table is None:
        return False
    if table.name != target.name:
        # A view (or a foreign table) may read the target under its own name; a table cannot.
        stored = getattr(source, "is_stored_table", None)
        return stored is not None and not stored()
    return table.schema is None or target.schema is None or table.schema == target.schema


def _same_database(source: Any, sink: Any) -> bool:
    """Both ends connect to one Postgres database (by their resolved libpq parameters)."""
    ends = [getattr(end, "conn_params", None) for end in (source, sink)]
    if not all(isinstance(params, dict) for params in ends):
        return False
    keys = ("host", "port", "dbname", "service")
    first, second = ({k: str(params.get(k, "")) for k in keys} for params in ends)  # type: ignore[union-attr]
    return first == second


def direct_eligible(
    process: Process, sink: Any, evolution: EvolutionPlan, contract: ContractGate, ddl: list[str], source: Any = None
) -> bool:
    """A load whose only uniqueness rule is the target's own primary key may skip staging.

    * A load that creates its table (not ``partition_replace``): nobody else sees the table yet.
    * Into an existing table, when the sink accepts the strategy (``direct_load_allowed``), with two
      exceptions that stage instead: DDL on a load other than a full_refresh (ALTER TABLE takes
      ACCESS EXCLUSIVE, which an append would then hold through the whole read, blocking readers),
      and a full_refresh whose source may read the target (see :func:`source_may_read_target`).
    """
    key, strategy = tuple(process.sink.primary_key), process.sink.strategy
    if not getattr(sink, "supports_direct_load", False):
        return False
    if any(unique != key for unique in contract.unique_keys):
        return False
    if evolution.creates_table:
        return strategy != "partition_replace"
    into_existing = getattr(sink, "direct_load_allowed", None)
    if into_existing is None or not into_existing(strategy, key):
        return False
    if strategy == "full_refresh":
        return not source_may_read_target(process, source, sink)
    return not ddl


def relay_allowed(
    process: Process, sink: Any, opened: OpenedRead, contract: ContractGate, evolution: EvolutionPlan, *, whole: bool
) -> bool:
    """A direct load may offer its source's rows as a binary relay (the source and sink decide the rest).

    The target must hold only this load's rows (a table the load creates, or a full_refresh), so the
    relay's SQL checks see exactly the loaded rows; and nothing may filter, rename or convert rows on
    the client: no cursor, partition or chunk (``whole``), no renamed columns, no delete marker, no
    type change for the compatibility gate to convert, no quarantine (a relay has no rows to set aside).
    """
    strategy = process.sink.strategy
    return (
        getattr(sink, "accepts_binary_relay", False)
        and whole
        and opened.tracker is None
        and not opened.row_filter.predicates
        and process.source.column_names == "as_is"
        and process.sink.delete_marker is None
        and contract.enforcement != "quarantine"
        and not evolution.casts
        and strategy != "scd2"
        and (strategy == "full_refresh" or evolution.creates_table)
    )
