"""The relay's row checks: one SQL condition true for every row the Arrow gates could reject.

A relayed table holds only the load's rows, so one scan in the commit stands in for the Arrow
gates: the contract's rules (not_null, min, max, allowed, max_length) and values Arrow cannot hold
(numeric NaN and infinity, infinite dates and timestamps). The condition errs on the strict side.

Terms the table itself already guarantees are left out (:class:`TableGuarantees`, read from the
catalog once per load): a row breaking one never got in, because the COPY rejected it, and a
rejected COPY sends the load to the Arrow path anyway. So the scan is leaner and, when no term is
left, skipped. Checked against Postgres 15:

* a ``NOT NULL`` column holds no null;
* a ``numeric(p, s)`` holds no ``Infinity`` (``numeric field overflow``), though it holds ``NaN``;
* a column under ``CHECK (isfinite(col))`` holds no infinite date or timestamp.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from dpone_core.connectors.postgres.sql import PLACEHOLDER, PostgresDialect
from dpone_core.errors import TypeCompatibilityError
from dpone_core.manifest.contract import ColumnRule

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.relay import RelayColumn
    from dpone_core.gates.contract import ContractGate

RELAY_TYPES: dict[int, str] = {
    16: "boolean",
    17: "bytea",
    20: "bigint",
    21: "smallint",
    23: "integer",
    25: "text",
    700: "real",
    701: "double precision",
    1043: "varchar",
    1082: "date",
    1114: "timestamp",
    1184: "timestamptz",
    1700: "numeric",
    2950: "uuid",
    3802: "jsonb",
}
"""Built-in types (by their fixed OID) the relay carries, with their SQL names for casts."""

_TEXT = frozenset({25, 1043})
_FLOAT = frozenset({700, 701})
_NUMERIC = 1700
_TEMPORAL = frozenset({1082, 1114, 1184})
_TIMESTAMPS = frozenset({1114, 1184})
_ARROW_TIMESTAMP_END = {1114: "'294247-01-01'::timestamp", 1184: "'294247-01-01 00:00:00+00'::timestamptz"}
"""A little before the last instant Arrow's int64 microseconds hold (294247-01-10)."""
_ORDERED = frozenset({20, 21, 23, *_FLOAT, _NUMERIC, *_TEXT, *_TEMPORAL})
"""Types whose min, max and allowed rules compare in SQL exactly as Arrow compares them."""

TermKind = Literal["null", "infinity", "infinite", "other"]
"""What a term looks for: the kinds a table's catalog can rule out, and every other term."""


@dataclass(frozen=True)
class Term:
    """One disjunct of the condition: the column it tests, what it looks for, its SQL and values."""

    column: str
    kind: TermKind
    sql: str
    params: tuple[object, ...] = ()


@dataclass(frozen=True)
class TableGuarantees:
    """What a table's types and constraints rule out, by column (see the module docstring).

    >>> TableGuarantees(not_null=frozenset({"id"})).rules_out(Term("id", "null", '"id" IS NULL'))
    True
    """

    not_null: frozenset[str] = frozenset()
    """Columns declared ``NOT NULL``."""
    bounded_numeric: frozenset[str] = frozenset()
    """``numeric`` columns with a precision (they refuse infinity)."""
    finite: frozenset[str] = frozenset()
    """Columns under ``CHECK (isfinite(col))``."""

    def rules_out(self, term: Term) -> bool:
        """No row of the table can make ``term`` true."""
        held = {"null": self.not_null, "infinity": self.bounded_numeric, "infinite": self.finite}
        return term.kind in held and term.column in held[term.kind]


GUARANTEES_SQL = (
    "SELECT a.attname, a.attnotnull, a.atttypid = 1700 AND a.atttypmod >= 4, EXISTS (SELECT 1 FROM pg_constraint c "
    "WHERE c.conrelid = a.attrelid AND c.contype = 'c' "
    "AND pg_get_expr(c.conbin, c.conrelid) = 'isfinite(' || quote_ident(a.attname) || ')') "
    "FROM pg_attribute a WHERE a.attrelid = to_regclass(\x00p) AND a.attnum > 0 AND NOT a.attisdropped"
)
"""Per column of a table: NOT NULL, a numeric with a precision, under ``CHECK (isfinite(col))``.

A CHECK holds for every row written after it was added, validated or not (a relayed table holds
only rows this load wrote); Postgres prints the expression with ``quote_ident``'s quoting.
"""


def guarantees_of(rows: Iterable[Sequence[object]]) -> TableGuarantees:
    """The :class:`TableGuarantees` of the rows :data:`GUARANTEES_SQL` returned."""
    listed = [(str(name), bool(nn), bool(bounded), bool(finite)) for name, nn, bounded, finite in rows]
    return TableGuarantees(
        not_null=frozenset(name for name, nn, _, _ in listed if nn),
        bounded_numeric=frozenset(name for name, _, bounded, _ in listed if bounded),
        finite=frozenset(name for name, _, _, finite in listed if finite),
    )


def violation_terms(
    columns: tuple[RelayColumn, ...], contract: ContractGate, server_version: int = 150000
) -> list[Term] | None:
    """Every term of the condition, or None when a contract rule has no SQL form with Arrow's exact meaning.

    ``server_version`` is the target's (``server_version_num``): numeric infinity exists from 14 on.
    """
    try:
        return _terms(columns, contract, server_version)
    except TypeCompatibilityError:
        return None  # a bound the column's type cannot hold: the Arrow gate reports it (if a row comes)


def violation_condition(
    columns: tuple[RelayColumn, ...],
    contract: ContractGate,
    server_version: int = 150000,
    guarantees: TableGuarantees = TableGuarantees(),
) -> tuple[str, list[object]] | None:
    """A SQL condition true for every row the Arrow path would reject that ``guarantees`` does not rule out.

    An empty condition means there is nothing to scan for; None, as in :func:`violation_terms`.
    """
    terms = violation_terms(columns, contract, server_version)
    if terms is None:
        return None
    kept = [t for t in terms if not guarantees.rules_out(t)]
    return " OR ".join(t.sql for t in kept), [p for t in kept for p in t.params]


def null_checked(terms: Sequence[Term]) -> frozenset[str]:
    """The columns a term tests for null (a staging table declares them NOT NULL instead)."""
    return frozenset(t.column for t in terms if t.kind == "null")


def _terms(columns: tuple[RelayColumn, ...], contract: ContractGate, server_version: int) -> list[Term] | None:
    # The gates (and pyarrow.compute) are imported by a load that relays, not by opening the sink.
    from dpone_core.gates.types import contract_arrow_type

    by_name = {c.name: c for c in columns}
    terms = [term for column in columns for term in _unholdable(column, server_version)]
    for name, rule in contract.contract.columns.items():
        declared = contract_arrow_type(rule)
        if name not in by_name or (declared is not None and declared != by_name[name].arrow):
            return None  # the Arrow gate converts this column (even with enforcement off); the relay cannot
    if not contract.checks_rules:
        return terms + [_is_null(name) for name in contract.key if name in by_name]
    terms += [_is_null(name) for name in sorted(contract.not_null) if name in by_name]
    for name, rule in contract.contract.columns.items():
        if not rule.nullable:
            terms.append(_is_null(name))
        rules = _rule_terms(by_name[name], rule)
        if rules is None:
            return None
        terms += rules
    return terms


def _is_null(name: str) -> Term:
    return Term(name, "null", f"{PostgresDialect().quote(name)} IS NULL")


def _unholdable(column: RelayColumn, server_version: int) -> list[Term]:
    """Values of the column's type that Arrow cannot hold."""
    quoted = PostgresDialect().quote(column.name)
    if column.type_oid == _NUMERIC:  # Arrow decimals hold neither NaN nor infinity
        nan = Term(column.name, "other", f"{quoted} = 'NaN'")
        if server_version < 140000:
            return [nan]  # before 14, 'Infinity' is not even valid numeric input
        return [nan, Term(column.name, "infinity", f"{quoted} IN ('Infinity', '-Infinity')")]
    if column.type_oid not in _TEMPORAL:
        return []
    terms = [Term(column.name, "infinite", f"NOT isfinite({quoted})")]  # the Arrow read refuses infinite dates
    if column.type_oid in _TIMESTAMPS:  # Postgres goes past Arrow's microseconds (year 294247)
        terms.append(Term(column.name, "other", f"{quoted} >= {_ARROW_TIMESTAMP_END[column.type_oid]}"))
    return terms


def _rule_terms(column: RelayColumn, rule: ColumnRule) -> list[Term] | None:
    """The terms of one column's min, max, allowed and max_length rules; None when one has no exact SQL form."""
    if rule.regex is not None:
        return None  # RE2 (Arrow) and Postgres regular expressions differ at the edges
    quoted = PostgresDialect().quote(column.name)
    terms: list[Term] = []

    def other(sql: str, *params: object) -> None:
        terms.append(Term(column.name, "other", sql, params))

    compared = [b for b in (rule.min, rule.max) if b is not None]
    if compared or rule.allowed is not None:
        if column.type_oid not in _ORDERED:
            return None
        # Arrow compares text byte by byte: so does the "C" collation.
        text = f'{quoted} COLLATE "C"' if column.type_oid in _TEXT else quoted
        if column.type_oid in _FLOAT and compared:
            other(f"{quoted} = 'NaN'")  # NaN fails every bound in Arrow, none in Postgres
        if rule.min is not None:
            other(f"{text} < {PLACEHOLDER}", _typed(rule.min, column.arrow))
        if rule.max is not None:
            other(f"{text} > {PLACEHOLDER}", _typed(rule.max, column.arrow))
        if rule.allowed is not None:
            if column.type_oid in _FLOAT:
                return None  # Arrow's is_in tells -0.0 from 0.0; Postgres's = does not
            from dpone_core.gates.contract import typed_values

            cast = f"CAST({PLACEHOLDER} AS {RELAY_TYPES[column.type_oid]}[])"
            other(f"NOT ({text} = ANY({cast}))", typed_values(rule.allowed, column.arrow).to_pylist())
    if rule.max_length is not None:
        if column.type_oid not in _TEXT:
            return None  # Arrow measures the value's text form, which Postgres spells differently
        other(f"char_length({quoted}) > {PLACEHOLDER}", rule.max_length)
    return terms


def _typed(value: object, arrow: pa.DataType) -> object:
    """A rule's bound as the column's Arrow type reads it (raises TypeCompatibilityError if it cannot hold it)."""
    from dpone_core.gates.contract import typed_values

    return typed_values([value], arrow)[0].as_py()
