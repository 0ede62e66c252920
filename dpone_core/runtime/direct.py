"""When a load may skip staging and stream straight into its target (a *direct* load).

A direct load writes every row once, but it streams the whole source inside the finalize
transaction, so every lock that transaction takes is held until the last source row arrives.
The rules below keep that from blocking readers or waiting on the load's own source.
"""

from __future__ import annotations

from dpone_core.connectors.endpoints import sink_table, source_table
from dpone_core.gates.contract import ContractGate
from dpone_core.gates.evolution import EvolutionPlan
from dpone_core.manifest.process import Process
from dpone_core.model.capabilities import Capabilities
from dpone_core.runtime.read_plan import OpenedRead
from dpone_core.spi.ports import Sink, Source


def source_may_read_target(process: Process, source: Source, sink: Sink) -> bool:
    """The source reads the target's database with a query or a view (either may select from the
    target), or reads the target table itself.

    The same database is the same connection name or the same :meth:`database_identity` (for two
    Postgres connections, the same host, port, database and service: two names for one server are
    common, a read-only role and a loader). While it streams, the source holds ACCESS SHARE on what
    it reads; a finalize that locks the target ACCESS EXCLUSIVE (TRUNCATE, ALTER TABLE) before the
    stream ends would wait on it forever.
    """
    identity = source.database_identity()
    same = process.source.connection == process.sink.connection or (
        identity is not None and identity == sink.database_identity()
    )
    if not same:
        return False
    if process.source.query is not None:
        return True
    table, target = source_table(process), sink_table(process)
    if table is None:
        return False
    if table.name != target.name:
        # A view (or a foreign table) may read the target under its own name; a table cannot.
        return source.is_stored_table() is False
    return table.schema is None or target.schema is None or table.schema == target.schema


def direct_eligible(
    process: Process,
    capabilities: Capabilities,
    sink: Sink,
    evolution: EvolutionPlan,
    contract: ContractGate,
    ddl: list[str],
    source: Source,
) -> bool:
    """A load whose only uniqueness rule is the target's own primary key may skip staging.

    * A load that creates its table (not ``partition_replace``): nobody else sees the table yet.
    * Into an existing table, when the sink accepts the strategy (``direct_load_allowed``), with two
      exceptions that stage instead: DDL on a load other than a full_refresh (ALTER TABLE takes
      ACCESS EXCLUSIVE, which an append would then hold through the whole read, blocking readers),
      and a full_refresh whose source may read the target (see :func:`source_may_read_target`).
    """
    key, strategy = tuple(process.sink.primary_key), process.sink.strategy
    if not capabilities.direct_load:
        return False
    if any(unique != key for unique in contract.unique_keys):
        return False
    if evolution.creates_table:
        return strategy != "partition_replace"
    if not sink.direct_load_allowed(strategy, key):
        return False
    if strategy == "full_refresh":
        return not source_may_read_target(process, source, sink)
    return not ddl


def relay_staging_eligible(
    process: Process, capabilities: Capabilities, contract: ContractGate, ddl: list[str]
) -> bool:
    """A merge into an existing target may stage its rows by relay inside the commit, then merge from there.

    The staging table is new and holds only the load's rows, so the relay's SQL checks are exact
    there (repeated keys included: the sink declines them, and staging through Arrow lets the
    contract decide). No DDL: ALTER TABLE's ACCESS EXCLUSIVE lock would be held through the read.
    No uniqueness rule other than the key, which the sink checks.
    """
    key = tuple(process.sink.primary_key)
    return (
        capabilities.binary_relay
        and capabilities.direct_load  # the relay reaches the commit the way a direct load's stream does
        and process.sink.strategy == "merge"
        and bool(key)
        and not ddl
        and all(unique == key for unique in contract.unique_keys)
    )


def relay_allowed(
    process: Process,
    capabilities: Capabilities,
    opened: OpenedRead,
    contract: ContractGate,
    evolution: EvolutionPlan,
    *,
    whole: bool,
) -> bool:
    """A direct load may offer its source's rows as a binary relay (the source and sink decide the rest).

    The table the rows are relayed into must hold only this load's rows (a table the load creates,
    a full_refresh, or the staging table of a merge, see :func:`relay_staging_eligible`), so the
    relay's SQL checks see exactly the loaded rows; and nothing may filter, rename or convert rows on
    the client: no cursor, partition or chunk (``whole``), no renamed columns, no delete marker, no
    type change for the compatibility gate to convert, no quarantine (a relay has no rows to set aside).
    """
    strategy = process.sink.strategy
    return (
        capabilities.binary_relay
        and whole
        and opened.tracker is None
        and not opened.row_filter.predicates
        and process.source.column_names == "as_is"
        and process.sink.delete_marker is None
        and contract.enforcement != "quarantine"
        and not evolution.casts
        and strategy != "scd2"
        and (strategy in {"full_refresh", "merge"} or evolution.creates_table)
    )
