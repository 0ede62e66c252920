"""The contract's row rules as DuckDB SQL, with the Arrow gate's exact meaning or not at all.

Each rule becomes a boolean term that is true exactly for the rows the Arrow gate
(:class:`~dpone_core.gates.contract.ContractGate`) rejects under that rule id, in the order the
gate evaluates them (column by column; per column not_null, min, max, allowed, regex, max_length),
so the reasons of a quarantined row read the same. A rule whose SQL would judge even one value
differently raises :class:`ScanRefused` and the load reads as Arrow:

* min / max / allowed only over types DuckDB orders as Arrow does (integers, decimals, text byte
  by byte, dates, timestamps, booleans). Not over floats: a NaN fails every bound in Arrow, but
  DuckDB folds ``isnan`` and comparisons by a Parquet file's min/max statistics, which leave NaN
  out (``isnan(x)`` became ``false`` for a column holding NaN), and Arrow's ``is_in`` tells -0.0
  from 0.0.
* regex with ``regexp_matches``: RE2 in both engines, a search as Arrow's ``match_substring_regex``
  is (``^``/``$`` anchor it), and only over text (Arrow matches other types' text form).
* max_length over text only: ``length`` counts code points, as Arrow's ``utf8_length``.

Terms are rendered into a view, which holds no parameters: constants are string literals cast to
the column's own type (``CAST('0.00' AS DECIMAL(18,2))``), so the engine parses the same value the
gate compares with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa

from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.errors import TypeCompatibilityError
from dpone_core.gates.contract import ContractGate, typed_values
from dpone_core.manifest.contract import ColumnRule
from dpone_core.spi.ports import ScanRefused

_INTEGER = re.compile(r"^U?(TINYINT|SMALLINT|INTEGER|BIGINT)$")
_ORDERED_OTHER = frozenset({"VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "BOOLEAN"})


@dataclass(frozen=True)
class RuleTerm:
    """One rule over one column: true (never NULL) for each row the Arrow gate rejects under ``rule``."""

    rule: str
    sql: str
    reason: str
    """``rule: description``, as the gate writes it into ``__dpone_reason``."""


def is_integer(duck_type: str) -> bool:
    """A DuckDB integer type (signed or not) of at most 64 bits.

    >>> is_integer("UBIGINT"), is_integer("HUGEINT"), is_integer("DECIMAL(18,2)")
    (True, False, False)
    """
    return bool(_INTEGER.match(duck_type))


def _ordered(duck_type: str) -> bool:
    return is_integer(duck_type) or duck_type in _ORDERED_OTHER or duck_type.startswith("DECIMAL(")


class _Terms:
    """Builds the terms of one scan; ``types`` are the scan's DuckDB column types by name."""

    def __init__(self, contract: ContractGate, schema: pa.Schema, types: dict[str, str]) -> None:
        self.contract, self.schema, self.types = contract, schema, types
        self.d = DuckDBDialect()
        self.terms: list[RuleTerm] = []

    def add(self, rule: str, condition: str) -> None:
        reason = f"{rule}: {self.contract.descriptions.get(rule, rule)}"
        self.terms.append(RuleTerm(rule, f"COALESCE({condition}, FALSE)", reason))

    def constant(self, value: object, name: str) -> str:
        """``value`` as the gate converts it to the column's Arrow type, cast to the column's DuckDB type."""
        try:
            typed = typed_values([value], self.schema.field(name).type)[0]
        except TypeCompatibilityError:
            raise ScanRefused(f"a bound of {name} does not fit its type") from None
        return f"CAST({self.d.literal(_text(typed.as_py()))} AS {self.types[name]})"

    def column(self, name: str, rule: ColumnRule | None) -> None:
        quoted, kind = self.d.quote(name), self.types[name]
        if (rule is not None and not rule.nullable) or name in self.contract.not_null:
            self.add(f"{name}.not_null", f"{quoted} IS NULL")
        if rule is None:
            return
        if (rule.min is not None or rule.max is not None or rule.allowed is not None) and not _ordered(kind):
            raise ScanRefused(f"{name} ({kind}) has no ordering SQL shares with Arrow (see the module)")
        if rule.min is not None:
            self.add(f"{name}.min", f"{quoted} < {self.constant(rule.min, name)}")
        if rule.max is not None:
            self.add(f"{name}.max", f"{quoted} > {self.constant(rule.max, name)}")
        if rule.allowed is not None:
            values = ", ".join(self.constant(v, name) for v in rule.allowed if v is not None)
            outside = f" AND {quoted} NOT IN ({values})" if values else ""
            self.add(f"{name}.allowed", f"{quoted} IS NOT NULL{outside}")
        if (rule.regex is not None or rule.max_length is not None) and kind != "VARCHAR":
            raise ScanRefused(f"{name} ({kind}): Arrow matches the text form of non-text values")
        if rule.regex is not None:
            pattern = self.d.literal(rule.regex)
            self.add(f"{name}.regex", f"{quoted} IS NOT NULL AND NOT regexp_matches({quoted}, {pattern})")
        if rule.max_length is not None:
            self.add(f"{name}.max_length", f"length({quoted}) > {int(rule.max_length)}")


def _text(value: object) -> str:
    """A value as text DuckDB parses back to it (decimals without an exponent, ISO 8601 times).

    >>> _text(Decimal("1E+2")), _text(date(2026, 1, 2)), _text(0.1)
    ('100', '2026-01-02', '0.1')
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def rule_terms(contract: ContractGate, schema: pa.Schema, types: dict[str, str]) -> list[RuleTerm]:
    """The terms of every row rule over ``schema``'s columns, in the gate's order (see the module).

    Under ``enforcement: off`` only a key column's NULL fails (the gate's one check then).

    >>> from dpone_core.manifest.contract import SchemaContract
    >>> gate = ContractGate(SchemaContract.model_validate({"columns": {"v": {"min": 0}}}))
    >>> [t.sql for t in rule_terms(gate, pa.schema([("v", pa.int64())]), {"v": "BIGINT"})]
    ['COALESCE("v" < CAST(\\'0\\' AS BIGINT), FALSE)']
    """
    build = _Terms(contract, schema, types)
    for name in schema.names:
        if not contract.checks_rules:
            if name in contract.key:
                build.add(f"{name}.not_null", f"{build.d.quote(name)} IS NULL")
            continue
        build.column(name, contract.contract.columns.get(name))
    return build.terms
