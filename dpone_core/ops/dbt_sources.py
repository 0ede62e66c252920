"""``dbt_sources.yml``: dbt source definitions (``version: 2``) for the tables dpone loads.

Per table: its description and columns (``data_type`` the database's own type, descriptions from
the contract, data tests derived as :mod:`.catalog_model` explains, and the rules dbt-core cannot
test under ``config.meta.dpone_contract``), and source freshness read from dpone's audit table.

Freshness uses ``loaded_at_query`` (dbt-core 1.10+): the newest ``finished_at`` of the process's
committed rows in ``__dpone__loads``, the moment its data last changed. Identifiers are quoted and
the process name is a string literal in the sink's SQL dialect (sqlglot renders both). dbt renders
``loaded_at_query``, descriptions, names and test arguments with Jinja, so any text holding a Jinja
delimiter has each ``{`` written as ``{{ '{' }}`` and reaches SQL and docs unchanged. Test arguments
sit under ``arguments:`` (dbt-core 1.10.5+).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dpone_core.ops.catalog_model import CatalogColumn, CatalogTable
from dpone_core.state.tables import LOADS_TABLE

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_JINJA_START = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Freshness:
    """warn_after / error_after in hours (None: that threshold is not set)."""

    warn_hours: int | None = 24
    error_hours: int | None = 48

    def config(self) -> dict[str, Any] | None:
        """dbt's ``freshness`` block, or None when neither threshold is set."""
        block = {
            key: {"count": hours, "period": "hour"}
            for key, hours in (("warn_after", self.warn_hours), ("error_after", self.error_hours))
            if hours
        }
        return block or None


def jinja_safe(text: str) -> str:
    """``text`` as dbt's Jinja renders it back to itself.

    >>> jinja_safe("a {{ b }}")
    "a {{ '{' }}{{ '{' }} b }}"
    >>> jinja_safe("plain {x}")
    'plain {x}'
    """
    if not any(start in text for start in _JINJA_START):
        return text
    return text.replace("{", "{{ '{' }}")


def _identifier(name: str, dialect: str) -> str:
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _literal(text: str, dialect: str) -> str:
    from sqlglot import exp

    return exp.Literal.string(text).sql(dialect=dialect)


def audit_table_sql(table: CatalogTable) -> str | None:
    """``__dpone__loads`` of the table's sink, qualified and quoted (None for a sink without one).

    On DuckDB the database part follows the source (``{{ adapter.quote(this.database) }}``), so the
    query reads the file dbt reads the table from even when a profile attaches several.
    """
    if table.dialect is None:
        return None
    parts = [_identifier(p, table.dialect) for p in (table.audit_schema, LOADS_TABLE) if p]
    prefix = "{{ adapter.quote(this.database) }}." if table.system == "duckdb" else ""
    return prefix + ".".join(jinja_safe(p) for p in parts)


def loaded_at_query(table: CatalogTable) -> str | None:
    """SQL returning when the process last committed a load (None when the sink keeps no audit table)."""
    audit = audit_table_sql(table)
    if audit is None or table.dialect is None:
        return None
    d = table.dialect

    def column(name: str) -> str:
        return _identifier(name, d)

    process = jinja_safe(_literal(table.process, d))
    committed = _literal("committed", d)
    return (
        f"select max({column('finished_at')}) from {audit} "
        f"where {column('process')} = {process} and {column('status')} = {committed}"
    )


def _test_value(value: Any) -> Any:
    return jinja_safe(value) if isinstance(value, str) else value


def column_tests(column: CatalogColumn, dialect: str | None = None) -> list[Any]:
    """dbt data tests of a column (not_null, unique, accepted_values)."""
    tests: list[Any] = []
    if column.not_null:
        tests.append("not_null")
    if column.unique:
        tests.append("unique")
    if column.allowed:
        arguments: dict[str, Any] = {"values": [_test_value(v) for v in column.allowed]}
        if not all(isinstance(v, str) for v in column.allowed):
            # Mixed or numeric values: compared unquoted, strings written as SQL literals.
            arguments["values"] = [_unquoted(v, dialect or "postgres") for v in column.allowed]
            arguments["quote"] = False
        tests.append({"accepted_values": {"arguments": arguments}})
    return tests


def _unquoted(value: Any, dialect: str) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return jinja_safe(_literal(value, dialect)) if isinstance(value, str) else value


def _column(column: CatalogColumn, dialect: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": jinja_safe(column.name)}
    if not _PLAIN.match(column.name):
        entry["quote"] = True
    if column.data_type:
        entry["data_type"] = jinja_safe(column.data_type)
    if column.description:
        entry["description"] = jinja_safe(column.description)
    tests = column_tests(column, dialect)
    if tests:
        entry["data_tests"] = tests
    if column.checks:
        checks = {k: _test_value(v) for k, v in column.checks.items()}
        entry["config"] = {"meta": {"dpone_contract": checks}}
    return entry


def _table(table: CatalogTable, freshness: Freshness) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": jinja_safe(table.table)}
    if table.description:
        entry["description"] = jinja_safe(table.description)
    meta = {
        "dpone_process": jinja_safe(table.process),
        "dpone_strategy": table.strategy,
        "dpone_primary_key": [jinja_safe(k) for k in table.primary_key],
        "dpone_contract_enforcement": table.enforcement,
        "openlineage_dataset": jinja_safe(f"{table.dataset.namespace}/{table.dataset.name}"),
    }
    config: dict[str, Any] = {"meta": {k: v for k, v in meta.items() if v}}
    query = loaded_at_query(table)
    thresholds = freshness.config()
    if query is not None and thresholds is not None:
        config["freshness"] = thresholds
        config["loaded_at_query"] = query
    entry["config"] = config
    entry["columns"] = [_column(c, table.dialect) for c in table.columns]
    return entry


def dbt_sources(tables: Sequence[CatalogTable], freshness: Freshness) -> dict[str, Any]:
    """The ``version: 2`` document: one source per connection and schema, one table per process."""
    sources: dict[tuple[str, str | None], dict[str, Any]] = {}
    for table in tables:
        source = sources.setdefault(
            (table.source_name, table.schema),
            {
                "name": jinja_safe(table.source_name),
                "description": f"Tables loaded by dpone into the {table.system} connection "
                f"{jinja_safe(table.source_name)}.",
                **({"schema": jinja_safe(table.schema)} if table.schema else {}),
                "quoting": {"database": True, "schema": True, "identifier": True},
                "tables": [],
            },
        )
        source["tables"].append(_table(table, freshness))
    return {"version": 2, "sources": list(sources.values())}


def to_yaml(document: dict[str, Any]) -> str:
    """The document as YAML, keys in the order written, with a header saying where it came from."""
    header = "# Generated by `dpone ops catalog-publish`; review before committing to the analytics project.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=4096)
