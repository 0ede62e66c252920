"""The physical DDL gate: turn an evolution plan into DDL, or refuse when policy forbids it.

DDL only ever adds: a new table is created with its primary key and NOT NULL columns, an existing
one gains columns or wider types. Nothing here drops a column, a key or a NOT NULL.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from dpone_core.errors import SchemaEvolutionBlocked
from dpone_core.gates.evolution import EvolutionPlan
from dpone_core.manifest.process import PhysicalDesign
from dpone_core.model import TableRef, TargetSchema
from dpone_core.strategies.dialect import SqlDialect


def create_table_sql(dialect: SqlDialect, table: TableRef, schema: TargetSchema, if_not_exists: bool = False) -> str:
    """CREATE TABLE with types, NOT NULL and the primary key.

    >>> import pyarrow as pa
    >>> from dpone_core.model import TargetColumn
    >>> s = TargetSchema((TargetColumn("id", pa.int64(), False), TargetColumn("v", pa.string())), ("id",))
    >>> create_table_sql(SqlDialect(), TableRef("a", "t"), s)
    'CREATE TABLE "a"."t" ("id" BIGINT NOT NULL, "v" TEXT, PRIMARY KEY ("id"))'
    """
    parts = [
        f"{dialect.quote(c.name)} {dialect.type_sql(c.type)}" + ("" if c.nullable else " NOT NULL")
        for c in schema.columns
    ]
    if schema.primary_key:
        parts.append(f"PRIMARY KEY ({dialect.column_list(schema.primary_key)})")
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {guard}{dialect.table(table)} ({', '.join(parts)})"


def render_ddl(dialect: SqlDialect, table: TableRef, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
    """DDL turning ``current`` into ``desired``: create, add columns, widen types."""
    if current is None:
        return [create_table_sql(dialect, table, desired)]
    statements = []
    for column in desired.columns:
        existing = current.column(column.name)
        if existing is None:
            statements.append(
                f"ALTER TABLE {dialect.table(table)} ADD COLUMN {dialect.quote(column.name)} "
                f"{dialect.type_sql(column.type)}"
            )
        elif dialect.type_sql(existing.type) != dialect.type_sql(column.type):
            statements.append(dialect.alter_type_sql(table, column.name, column.type))
    return statements


def physical_ddl(
    plan: EvolutionPlan,
    statements: list[str],
    design: PhysicalDesign,
    blocks_writers: Callable[[pa.DataType, pa.DataType], bool],
) -> list[str]:
    """Return the sink's DDL for ``plan`` if the physical design allows it, else raise.

    ``blocks_writers(current, incoming)`` is the sink's answer to whether widening a column from
    one type to the other rewrites the table (refused in ``online`` mode) or only its catalog.
    """
    if not statements:
        return []
    if not design.apply_runtime:
        raise SchemaEvolutionBlocked(
            f"the target needs DDL ({statements[0]}) but physical_design.apply_runtime is false",
            step="ddl",
            fix="apply the DDL yourself, or set sink.options.physical_design.apply_runtime: true",
        )
    rewrites = [name for name, current, incoming in plan.widened if blocks_writers(current, incoming)]
    if rewrites and design.apply == "online":
        name = rewrites[0]
        raise SchemaEvolutionBlocked(
            f"widening column {name} rewrites the table and blocks writers, refused in online mode",
            step="ddl",
            fix="set sink.options.physical_design.apply: offline for this run",
        )
    return statements
