"""What catalog publication says about a target table, gathered once for dbt and DataHub.

A :class:`CatalogTable` is built from the manifest's process (its sink, description and data
contract) and the run's report (the target's columns with their physical types), or, without a
manifest, from an ``--output KIND=NAME`` dataset and the report alone. Tests are derived only where
the table as a whole keeps the rule: ``not_null`` for ``nullable: false`` and key columns (and
columns the target declares NOT NULL), ``unique`` for a ``unique`` rule or a one-column key when the
strategy keeps one row per key (full_refresh, merge, snapshot_diff; a contract's ``unique`` holds
per load, so append, incremental, partition_replace and scd2 tables can repeat a value), and
``accepted_values`` for ``allowed``. ``enforcement: off`` checks no rule, so only the key is tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dpone_core.manifest.contract import ColumnRule
from dpone_core.model import LineageDataset

if TYPE_CHECKING:
    from dpone_core.manifest.process import Process
    from dpone_core.ops.lineage_export import PublishedRun

ONE_ROW_PER_KEY = frozenset({"full_refresh", "merge", "snapshot_diff"})
"""Strategies whose target holds one row per key value."""
DEFAULT_SCHEMA = {"duckdb": "main", "postgres": "public", "mssql": "dbo"}
"""The schema an unqualified table lands in (``__dpone__loads`` without ``meta_schema``)."""
UNTESTED_RULES = ("min", "max", "regex", "max_length")
"""Contract rules dbt-core has no generic test for: published as column meta."""


@dataclass(frozen=True)
class CatalogColumn:
    """One target column as catalogs see it."""

    name: str
    data_type: str | None = None
    """The database's own type where known (``BIGINT``, ``NUMERIC(18, 2)``), else the contract's."""
    arrow_type: str | None = None
    description: str | None = None
    not_null: bool = False
    unique: bool = False
    primary_key: bool = False
    allowed: list[Any] | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    """Contract rules without a dbt-core test (min, max, regex, max_length)."""


@dataclass(frozen=True)
class CatalogTable:
    """One target table: where it is, what it holds, and where its loads are audited."""

    process: str
    source_name: str
    """The dbt source it goes under: the sink connection's name (or the system, without a manifest)."""
    system: str
    dialect: str | None
    """sqlglot's name of the SQL dialect (None: not a SQL system dpone knows)."""
    schema: str | None
    table: str
    dataset: LineageDataset
    audit_schema: str | None
    """Schema (ClickHouse: database) of ``__dpone__loads``; None when it is not a SQL sink."""
    description: str | None = None
    strategy: str | None = None
    primary_key: tuple[str, ...] = ()
    enforcement: str | None = None
    columns: tuple[CatalogColumn, ...] = ()


def _dialect(system: str) -> str | None:
    from dpone_core.connections.registry import UnknownConnectionType, connector

    try:
        return connector(system).sql_dialect
    except UnknownConnectionType:
        return None


def _contract_type(rule: ColumnRule | None) -> str | None:
    if rule is None or rule.type is None:
        return None
    if rule.type == "decimal":
        return f"decimal({rule.precision}, {rule.scale or 0})"
    return rule.type


def _column(
    name: str, target: dict[str, Any] | None, rule: ColumnRule | None, process: Process | None, checked: bool
) -> CatalogColumn:
    """Merge what the target says of a column with its contract rule and the sink's key."""
    key = tuple(process.sink.primary_key) if process is not None else ()
    strategy = process.sink.strategy if process is not None else None
    active = rule if checked else None
    sole_key = key == (name,)
    unique = strategy in ONE_ROW_PER_KEY and (sole_key or (active is not None and active.unique))
    declared_not_null = target is not None and target.get("nullable") is False
    return CatalogColumn(
        name=name,
        data_type=str(target.get("physical_type") or target.get("type")) if target else _contract_type(rule),
        arrow_type=str(target["type"]) if target and target.get("type") else rule.type if rule else None,
        description=rule.description if rule else None,
        not_null=name in key or declared_not_null or (active is not None and not active.nullable),
        unique=unique,
        primary_key=name in key,
        allowed=list(active.allowed) if active is not None and active.allowed else None,
        checks={k: getattr(active, k) for k in UNTESTED_RULES if active is not None and getattr(active, k) is not None},
    )


def _columns(run: PublishedRun, process: Process | None) -> tuple[CatalogColumn, ...]:
    """The target's columns in its order (the contract's and the key's when the report has no schema)."""
    contract = process.schema_contract if process is not None else None
    rules = contract.columns if contract is not None else {}
    checked = contract is not None and contract.enforcement != "off"
    targets = {str(c["name"]): c for c in run.report.result.target_schema}
    names = list(targets) or [*rules, *[k for k in (process.sink.primary_key if process else []) if k not in rules]]
    return tuple(_column(n, targets.get(n), rules.get(n), process, checked) for n in names)


def _from_process(run: PublishedRun) -> CatalogTable:
    assert run.loaded is not None
    process = run.process
    sink = process.sink
    system = run.loaded.manifest.connections[sink.connection].type
    dataset = run.datasets.outputs[0] if run.datasets.outputs else None
    schema, table = sink.table_parts()
    if dataset is None:
        from dpone_core.connectors.lineage import sink_dataset

        dataset = sink_dataset(run.loaded, process)
    schema = schema or dataset.schema or DEFAULT_SCHEMA.get(system) or dataset.database
    dialect = _dialect(system)
    audit = sink.options.meta_schema or (schema if system == "clickhouse" else DEFAULT_SCHEMA.get(system))
    contract = process.schema_contract
    return CatalogTable(
        process=process.name,
        source_name=sink.connection,
        system=system,
        dialect=dialect,
        schema=schema,
        table=table,
        dataset=dataset,
        audit_schema=audit if dialect else None,
        description=process.description,
        strategy=sink.strategy,
        primary_key=tuple(sink.primary_key),
        enforcement=contract.enforcement if contract else None,
        columns=_columns(run, process),
    )


def _from_dataset(run: PublishedRun, dataset: LineageDataset) -> CatalogTable:
    """A table named by ``--output``: the report's columns, no contract, the system's default audit schema."""
    system = dataset.system
    dialect = _dialect(system)
    schema = dataset.schema or DEFAULT_SCHEMA.get(system)
    return CatalogTable(
        process=run.process.name,
        source_name=schema or system,
        system=system,
        dialect=dialect,
        schema=schema,
        table=dataset.table or dataset.name,
        dataset=dataset,
        audit_schema=(schema if system == "clickhouse" else DEFAULT_SCHEMA.get(system)) if dialect else None,
        strategy=run.report.strategy,
        columns=_columns(run, None),
    )


def catalog_tables(run: PublishedRun) -> list[CatalogTable]:
    """The target table(s) of a run: the process's sink with a manifest, else each ``--output`` dataset."""
    if run.loaded is not None:
        return [_from_process(run)]
    return [_from_dataset(run, dataset) for dataset in run.datasets.outputs]
