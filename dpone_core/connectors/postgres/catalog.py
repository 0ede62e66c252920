"""Reading a Postgres table's shape from the system catalog (columns, NOT NULL, primary key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from dpone_core.connectors.postgres.types import arrow_type
from dpone_core.model import TableRef, TargetColumn, TargetSchema

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.sink import PostgresSink

LIST_TABLES_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = \x00p AND c.relkind IN ('r', 'p')"
)


def describe_table(sink: PostgresSink, table: TableRef) -> TargetSchema | None:
    """Columns (Arrow types from the catalog), NOT NULL and primary key of ``table``; None when absent.

    ``sink``'s connection runs the catalog queries.
    """
    name = sink.dialect.table(table)
    rows = sink.query(
        "SELECT a.attname, a.attnotnull, b.typname, b.typtype, "
        "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, e.typname, e.typtype, "
        "format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
        "LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' "
        "WHERE a.attrelid = to_regclass(\x00p) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (name,),
    )
    if not rows:
        return None
    key = sink.query(
        "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = to_regclass(\x00p) AND i.indisprimary ORDER BY k.ord",
        (name,),
    )
    columns = []
    for attname, not_null, typname, typtype, typmod, elem, elem_type, native in rows:
        enum = typtype == "e" or elem_type == "e"
        mapped = arrow_type(
            typname, int(typmod), is_enum=typtype == "e", element=elem, element_is_enum=elem_type == "e"
        )
        # A type without an Arrow mapping (inet, enum arrays, ...) is described as text and keeps its
        # own type (format_type: quoted, schema-qualified when needed) so staged text is cast to it;
        # there is no assignment cast from text to an enum or inet.
        stand_in = mapped is None or enum
        columns.append(
            TargetColumn(
                attname,
                pa.string() if mapped is None else mapped,
                not not_null,
                native_type=str(native) if stand_in else None,
            )
        )
    return TargetSchema(tuple(columns), tuple(r[0] for r in key))
