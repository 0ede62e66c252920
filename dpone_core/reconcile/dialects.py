"""The normalisation and hash rules per SQL dialect, as data: each renders the same text for a value.

A row's text is the normalised text of each key and compared column, joined by U+001F, with
U+001E for NULL. Its hash is the first 8 bytes of the MD5 of that text's UTF-8, read big-endian
as an unsigned 64-bit integer; a segment's checksum is the sum of its rows' hashes modulo 2**64
(order-independent, and a duplicated row changes it, unlike XOR). Postgres sums signed bigints
into ``numeric``, DuckDB unsigned into ``HUGEINT``, ClickHouse wraps ``UInt64``: the same value
modulo 2**64. :mod:`dpone_core.reconcile.normalize` is the same rules in Python, for the sides
that cannot hash in SQL.

Values are never pasted into SQL: :meth:`Dialect.param` renders a named placeholder in the
dialect's own style (``%(name)s`` for psycopg2, ``$name`` for DuckDB, ``{name:Int64}`` for
ClickHouse), and identifiers are quoted by :meth:`Dialect.quote`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpone_core.errors import ConfigurationError
from dpone_core.reconcile.types import ColumnType

SEPARATOR = "\x1f"
"""Between the columns of a row's text."""
NULL_TEXT = "\x1e"
"""A NULL's text (a value of exactly U+001E hashes like NULL; nothing else does)."""
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""UTC, microseconds, in Python's strftime terms (each dialect spells the same)."""


@dataclass(frozen=True)
class Dialect:
    """How one SQL engine renders the normalised text, the row hash and a segment's bucket."""

    name: str
    quote_char: str
    texts: dict[str, str]
    """Per kind, the text of ``{c}`` (``{s}``: the decimal scale)."""
    null_text: str
    separator: str
    row_hash: str
    """The unsigned-or-signed 64-bit hash of the text ``{t}``."""
    zero_hash: str
    """A 0 of the hash's type (deleted rows add it)."""
    native_hash: str
    """The engine's own fast 64-bit hash of ``{t}``: used when both sides are this dialect (the MD5
    form is the one every engine and Python agree on, and costs most of a segment query)."""
    bucket: str
    """The segment index of key ``{k}`` from ``{lo}`` in steps of ``{w}`` (integer division)."""
    is_true: str
    """``{c}`` is true (a delete marker), NULL counting as false."""
    text_order: str = ""
    """Appended to ORDER BY of a text key, so that the order is the code-point order Python uses."""
    param_style: str = "pyformat"
    percent_escape: bool = False
    """psycopg2 reads ``%`` as a placeholder: a literal one in an identifier must be doubled."""

    def quote(self, name: str) -> str:
        """A quoted identifier (the quote character doubled inside)."""
        quoted = self.quote_char + name.replace(self.quote_char, self.quote_char * 2) + self.quote_char
        return quoted.replace("%", "%%") if self.percent_escape else quoted

    def table(self, schema: str | None, name: str) -> str:
        """A quoted, optionally schema-qualified table name."""
        return f"{self.quote(schema)}.{self.quote(name)}" if schema else self.quote(name)

    def param(self, name: str, value: object) -> str:
        """A named placeholder for ``value`` in this dialect's style."""
        if self.param_style == "pyformat":
            return f"%({name})s"
        if self.param_style == "dollar":
            return f"${name}"
        return "{" + name + ":" + _clickhouse_type(value) + "}"

    def text_of(self, column: str, merged: ColumnType, own: ColumnType) -> str:
        """The normalised text of ``column`` (its own type picks the timestamp rule), NULL as the marker."""
        kind = merged.kind
        if kind == "timestamp":
            kind = "timestamptz" if own.kind == "timestamptz" else "timestamp"
        template = self.texts.get(kind, self.texts["text"])
        expr = template.format(c=self.quote(column), s=merged.fraction_digits())
        return f"COALESCE({expr}, {self.null_text})"

    def row_text(self, texts: list[str]) -> str:
        """The row's text from its columns' texts (none of them NULL)."""
        return f"concat({f', {self.separator}, '.join(texts)})" if len(texts) > 1 else texts[0]


def _clickhouse_type(value: object) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    return "String"


_TS = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'

POSTGRES = Dialect(
    name="postgres",
    quote_char='"',
    texts={
        "int": "CAST({c} AS text)",
        "bool": "CAST({c} AS text)",
        "decimal": "CAST(CAST({c} AS numeric(38, {s})) AS text)",
        "float": "CAST(CAST({c} AS numeric(38, {s})) AS text)",
        "timestamptz": f"to_char({{c}} AT TIME ZONE 'UTC', '{_TS}')",
        "timestamp": f"to_char({{c}}, '{_TS}')",
        "date": "to_char({c}, 'YYYY-MM-DD')",
        "text": "CAST({c} AS text)",
    },
    null_text="chr(30)",
    separator="chr(31)",
    row_hash="CAST(CAST('x' || substr(md5({t}), 1, 16) AS bit(64)) AS bigint)",
    zero_hash="CAST(0 AS bigint)",
    native_hash="hashtextextended({t}, 0)",
    bucket="(({k}) - {lo}) / {w}",
    is_true="COALESCE(CAST({c} AS boolean), FALSE)",
    text_order=' COLLATE "C"',
    param_style="pyformat",
    percent_escape=True,
)

DUCKDB = Dialect(
    name="duckdb",
    quote_char='"',
    texts={
        "int": "CAST({c} AS VARCHAR)",
        "bool": "CAST({c} AS VARCHAR)",
        "decimal": "CAST(CAST({c} AS DECIMAL(38, {s})) AS VARCHAR)",
        "float": "CAST(CAST({c} AS DECIMAL(38, {s})) AS VARCHAR)",
        "timestamptz": "strftime(timezone('UTC', {c}), '%Y-%m-%dT%H:%M:%S.%fZ')",
        "timestamp": "strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%fZ')",
        "date": "strftime({c}, '%Y-%m-%d')",
        "text": "CAST({c} AS VARCHAR)",
    },
    null_text="chr(30)",
    separator="chr(31)",
    row_hash="CAST('0x' || substr(md5({t}), 1, 16) AS UBIGINT)",
    zero_hash="CAST(0 AS UBIGINT)",
    native_hash="hash({t})",
    bucket="(({k}) - {lo}) // {w}",
    is_true="COALESCE(CAST({c} AS BOOLEAN), FALSE)",
    param_style="dollar",
)

CLICKHOUSE = Dialect(
    name="clickhouse",
    quote_char="`",
    texts={
        "int": "toString({c})",
        "bool": "if({c}, 'true', 'false')",
        "decimal": "toDecimalString(toDecimal128({c}, {s}), {s})",
        "float": "toDecimalString(toDecimal128({c}, {s}), {s})",
        "timestamptz": "concat(replaceOne(toString(toDateTime64({c}, 6, 'UTC')), ' ', 'T'), 'Z')",
        "timestamp": "concat(replaceOne(toString(toDateTime64({c}, 6, 'UTC')), ' ', 'T'), 'Z')",
        "date": "toString({c})",
        "text": "toString({c})",
    },
    null_text="'\\x1E'",
    separator="'\\x1F'",
    row_hash="reinterpretAsUInt64(reverse(substring(MD5({t}), 1, 8)))",
    zero_hash="toUInt64(0)",
    native_hash="cityHash64({t})",
    bucket="intDiv(({k}) - {lo}, {w})",
    is_true="ifNull(toBool({c}), false)",
    param_style="clickhouse",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (POSTGRES, DUCKDB, CLICKHOUSE)}
"""Every dialect a SQL side can hash in."""


def dialect(name: str) -> Dialect:
    """The rules of ``name`` (duckdb, postgres, clickhouse); anything else is a configuration error."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ConfigurationError(
            f"reconcile cannot hash in SQL dialect {name!r}",
            step="reconcile",
            fix=f"use one of {', '.join(sorted(DIALECTS))}, or stream that side's rows (ArrowSide)",
        ) from None
