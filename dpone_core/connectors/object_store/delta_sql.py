"""The SQL text delta-rs takes (DataFusion's dialect): quoted names, key joins, typed literals.

delta-rs takes merge conditions and the rows an overwrite replaces (``replaceWhere``) only as
predicate text, with no parameters. So literals are rendered here from Arrow values a load staged
(never from manifest text), strings quoted and escaped, and only for the types a slice can be.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import pyarrow as pa

from dpone_core.errors import ConfigurationError


def quoted(name: str) -> str:
    """``name`` as a quoted identifier of delta-rs's SQL (DataFusion)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: pa.Scalar) -> str:
    """One slice value as a DataFusion literal of its type."""
    kind, python = value.type, value.as_py()
    if pa.types.is_integer(kind):
        return str(int(python))
    if pa.types.is_boolean(kind):
        return "TRUE" if python else "FALSE"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "'" + str(python).replace("'", "''") + "'"
    if pa.types.is_date(kind):
        return f"CAST('{python.isoformat()}' AS DATE)"
    if pa.types.is_timestamp(kind):
        instant = python.astimezone(UTC) if python.tzinfo is not None else python
        return f"CAST('{instant.isoformat()}' AS TIMESTAMP)"
    raise ConfigurationError(
        f"a delta table cannot replace slices of a {kind} column",
        step="finalize",
        fix="partition by an integer, text, boolean, date or timestamp column",
    )


def key_match(key: Sequence[str], left: str, right: str, right_names: Sequence[str] | None = None) -> str:
    """``left.k = right.k AND ...`` (``right_names`` renames the right side's columns)."""
    names = right_names or key
    return " AND ".join(f"{left}.{quoted(k)} = {right}.{quoted(n)}" for k, n in zip(key, names, strict=True))


def changed(columns: Sequence[str], known: set[str], source: str = "s", target: str = "t") -> str:
    """Any of ``columns`` differs between the rows (a column the table lacks differs where set).

    Each term is parenthesised: delta-rs's SQL parser binds ``IS DISTINCT FROM`` looser than ``OR``.
    """
    terms = [
        f"({source}.{quoted(c)} IS DISTINCT FROM {target}.{quoted(c)})"
        if c in known
        else f"({source}.{quoted(c)} IS NOT NULL)"
        for c in columns
    ]
    return "(" + " OR ".join(terms) + ")" if terms else "FALSE"


def marked(column: str | None, source: str = "s") -> str:
    """The source row carries the delete marker (FALSE without a marker, NULL as not marked)."""
    return f"COALESCE({source}.{quoted(column)}, FALSE)" if column else "FALSE"
