"""Postgres -> Postgres binary relay: a direct load whose rows never become Arrow.

When every column has the same built-in type in the source and in the target, the bytes of the
source's ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` are exactly what the target's
``COPY ... FROM STDIN (FORMAT binary)`` takes. A direct load into a table that holds only the
load's rows (one it creates, or a full_refresh that truncates it) then pipes one into the other
inside the finalize transaction, and the client decodes and re-encodes nothing: on two cores the
Arrow path costs about a quarter of the raw pipe's speed in decoding and encoding alone.

The gates still decide before the commit. Because the target holds only the load's rows, one SQL
scan in the same transaction looks for every row the Arrow gates could reject: the contract's rules
(not_null, min, max, allowed, max_length) and values Arrow cannot hold (numeric NaN and infinity,
infinite dates and timestamps). The scan errs on the strict side. When it finds such a row, or a
COPY rejects one, the sink declines with :class:`RelayRefused`: the transaction rolls back and the
runtime reads again as Arrow, whose gates decide and report as they always do. A load with a rule
that has no exact SQL form here (a regex, a type conversion, quarantine) never takes the relay.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.postgres.connection import sqlstate, translate
from dpone_core.connectors.postgres.copy_out import CopyOutProcess, SourceCopyError
from dpone_core.connectors.postgres.libpq_copy import copy_in
from dpone_core.connectors.postgres.sql import PLACEHOLDER, PostgresDialect
from dpone_core.connectors.postgres.types import arrow_type, numeric_type
from dpone_core.errors import DponeError, TypeCompatibilityError
from dpone_core.gates.contract import ContractGate, typed_values
from dpone_core.gates.types import contract_arrow_type
from dpone_core.model import TableRef
from dpone_core.spi.ports import RelayRefused

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.sink import PostgresSink

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
_PROGRESS_ROWS = 65_536


@dataclass(frozen=True)
class RelayColumn:
    """One column of the relayed stream: its name, catalog type OID and typmod, and its Arrow type."""

    name: str
    type_oid: int
    typmod: int
    arrow: pa.DataType


@dataclass
class BinaryRelay:
    """What a source hands a Postgres sink to relay: the columns, the reading process, the row checks."""

    columns: tuple[RelayColumn, ...]
    source: CopyOutProcess
    describe: str
    """The source, as error messages name it."""
    contract: ContractGate
    """The gate whose rules the SQL checks stand in for (:func:`violation_condition`)."""
    on_rows: Callable[[int], None] = field(default=lambda rows: None)
    """Called as rows pass (progress and the stream's counts)."""

    def report_rows_to(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` as rows pass."""
        self.on_rows = callback

    def close(self) -> None:
        """Stop the reading process if it still runs (the relay was declined or failed)."""
        self.source.close()


def relay_column_supported(type_oid: int, typmod: int) -> bool:
    """A built-in type the relay carries; a numeric needs a precision of at most 38 (Arrow's decimal128)."""
    if type_oid not in RELAY_TYPES:
        return False
    if type_oid == _NUMERIC:
        scale_negative = typmod >= 4 and (typmod - 4) & 0x400
        return typmod >= 4 and not scale_negative and pa.types.is_decimal128(numeric_type(typmod))
    return True


def build_relay(
    columns: tuple[RelayColumn, ...],
    contract: ContractGate,
    params: dict[str, str],
    select: str,
    describe: str,
) -> BinaryRelay | None:
    """The relay of ``select`` (rendered SQL) under this contract, or None when a type or rule has no SQL form.

    The reading process starts here, so its start overlaps the finalize's preparation.
    """
    if contract.enforcement == "quarantine" or not columns:
        return None
    if not all(relay_column_supported(c.type_oid, c.typmod) for c in columns):
        return None
    if violation_condition(columns, contract) is None or not _runs_python(sys.executable):
        return None
    try:
        process = CopyOutProcess(params, f"COPY ({select}) TO STDOUT (FORMAT binary)")
    except OSError:
        return None  # the interpreter cannot be started (replaced under a long-lived process): use Arrow
    return BinaryRelay(columns, process, describe, contract)


def _runs_python(executable: str | None) -> bool:
    """The running interpreter can start the reading process (not an embedding host program)."""
    return bool(executable) and Path(str(executable)).name.lower().startswith(("python", "pypy"))


def violation_condition(
    columns: tuple[RelayColumn, ...], contract: ContractGate, server_version: int = 150000
) -> tuple[str, list[Any]] | None:
    """A SQL condition true for every row the Arrow path would reject (and maybe a few more).

    None when a contract rule cannot be written in SQL with Arrow's exact meaning here.
    ``server_version`` is the target's (``server_version_num``): numeric infinity exists from 14 on.
    """
    try:
        return _violation_condition(columns, contract, server_version)
    except TypeCompatibilityError:
        return None  # a bound the column's type cannot hold: the Arrow gate reports it (if a row comes)


def _violation_condition(
    columns: tuple[RelayColumn, ...], contract: ContractGate, server_version: int
) -> tuple[str, list[Any]] | None:
    dialect = PostgresDialect()
    by_name = {c.name: c for c in columns}
    terms: list[str] = []
    params: list[Any] = []
    for column in columns:
        quoted = dialect.quote(column.name)
        if column.type_oid == _NUMERIC:  # Arrow decimals hold neither NaN nor infinity
            specials = "IN ('NaN', 'Infinity', '-Infinity')" if server_version >= 140000 else "= 'NaN'"
            terms.append(f"{quoted} {specials}")
        elif column.type_oid in _TEMPORAL:
            terms.append(f"NOT isfinite({quoted})")  # the Arrow read refuses infinite dates
            if column.type_oid in _TIMESTAMPS:  # Postgres goes past Arrow's microseconds (year 294247)
                terms.append(f"{quoted} >= {_ARROW_TIMESTAMP_END[column.type_oid]}")
    for name, rule in contract.contract.columns.items():
        declared = contract_arrow_type(rule)
        if name not in by_name or (declared is not None and declared != by_name[name].arrow):
            return None  # the Arrow gate converts this column (even with enforcement off); the relay cannot
    if not contract.checks_rules:
        terms.extend(f"{dialect.quote(name)} IS NULL" for name in contract.key if name in by_name)
        return " OR ".join(terms), params
    for name in sorted(contract.not_null):
        if name in by_name:
            terms.append(f"{dialect.quote(name)} IS NULL")
    for name, rule in contract.contract.columns.items():
        column = by_name[name]
        if rule.regex is not None:
            return None  # RE2 (Arrow) and Postgres regular expressions differ at the edges
        quoted = dialect.quote(name)
        if not rule.nullable:
            terms.append(f"{quoted} IS NULL")
        compared = [b for b in (rule.min, rule.max) if b is not None]
        if compared or rule.allowed is not None:
            if column.type_oid not in _ORDERED:
                return None
            # Arrow compares text byte by byte: so does the "C" collation.
            text = f'{quoted} COLLATE "C"' if column.type_oid in _TEXT else quoted
            if column.type_oid in _FLOAT and compared:
                terms.append(f"{quoted} = 'NaN'")  # NaN fails every bound in Arrow, none in Postgres
            if rule.min is not None:
                terms.append(f"{text} < {PLACEHOLDER}")
                params.append(typed_values([rule.min], column.arrow)[0].as_py())
            if rule.max is not None:
                terms.append(f"{text} > {PLACEHOLDER}")
                params.append(typed_values([rule.max], column.arrow)[0].as_py())
            if rule.allowed is not None:
                if column.type_oid in _FLOAT:
                    return None  # Arrow's is_in tells -0.0 from 0.0; Postgres's = does not
                terms.append(f"NOT ({text} = ANY(CAST({PLACEHOLDER} AS {RELAY_TYPES[column.type_oid]}[])))")
                params.append(typed_values(rule.allowed, column.arrow).to_pylist())
        if rule.max_length is not None:
            if column.type_oid not in _TEXT:
                return None  # Arrow measures the value's text form, which Postgres spells differently
            terms.append(f"char_length({quoted}) > {PLACEHOLDER}")
            params.append(rule.max_length)
    return " OR ".join(terms), params


# ---- the sink side ------------------------------------------------------------------------------
_TARGET_COLUMNS_SQL = (
    "SELECT a.attname, a.atttypid::int, a.atttypmod, t.typname FROM pg_attribute a "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass(\x00p) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''"
)
_USER_TRIGGERS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_trigger g, (SELECT to_regclass(\x00p) AS t) r WHERE NOT g.tgisinternal "
    "AND (g.tgrelid = r.t OR g.tgrelid IN (SELECT relid FROM pg_partition_tree(r.t))))"
)
"""A user trigger on the target or on any of its partitions (a plain table has no partition tree)."""
_BYTEWISE_ENCODINGS = frozenset({"UTF8", "SQL_ASCII"})
"""Target encodings whose "C" collation orders text as Arrow does (by UTF-8 bytes)."""


def require_compatible(sink: PostgresSink, table: TableRef, relay: BinaryRelay) -> None:
    """The target takes the source's binary values as they are, and the checks judge them as Arrow would.

    Otherwise :class:`RelayRefused`. Each column: the same type (``varchar`` also goes into
    ``text``), the target's typmod unset or equal, and the same Arrow type on both sides (an
    unconstrained target ``numeric`` is ``decimal128(38, 9)`` to the Arrow path, which converts and
    may quarantine). No triggers (they may change rows on the way in, after the checks would see
    them), and a target encoding whose byte order is UTF-8's.
    """
    encoding = sink.query("SELECT current_setting('server_encoding')")[0][0]
    if encoding not in _BYTEWISE_ENCODINGS:
        raise RelayRefused(f"the target database's encoding is {encoding}")
    if sink.query(_USER_TRIGGERS_SQL, (sink.dialect.table(table),))[0][0]:
        raise RelayRefused("the target has triggers")
    rows = sink.query(_TARGET_COLUMNS_SQL, (sink.dialect.table(table),))
    target = {name: (int(oid), int(typmod), str(typname)) for name, oid, typmod, typname in rows}
    if set(target) != {c.name for c in relay.columns}:
        raise RelayRefused("the target's columns are not the source's")
    for column in relay.columns:
        oid, typmod, typname = target[column.name]
        same = oid == column.type_oid or (column.type_oid == 1043 and oid == 25)
        if not same or typmod not in (-1, column.typmod) or arrow_type(typname, typmod) != column.arrow:
            raise RelayRefused(f"column {column.name} has another type in the target")


def relay_into(sink: PostgresSink, table: TableRef, relay: BinaryRelay) -> int:
    """Pipe the source's COPY into ``table`` in the open transaction, then run the row checks.

    Returns the rows loaded. A row the checks flag, or one the COPY rejects (other than a duplicate
    key, which sends the load through staging), raises :class:`RelayRefused`; a failed source
    raises its own error. Either way the caller's transaction rolls back.
    """
    from dpone_core.connectors.postgres.direct_load import duplicate_key  # it imports this module

    columns = ", ".join(sink.dialect.quote(c.name) for c in relay.columns)
    sql = f"COPY {sink.dialect.table(table)} ({columns}) FROM STDIN (FORMAT binary)"
    reporter = _Progress(relay)
    try:
        loaded = copy_in(sink.con, sql, reporter.chunks())
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):
            _raise_source_error(relay)  # a failed source cut the stream: its error says why
        relay.source.close()
        if isinstance(exc, DponeError | KeyboardInterrupt):
            raise
        code = sqlstate(exc) or ""
        if code == "23505":
            raise duplicate_key(sink) from None
        if code[:2] in {"22", "23"}:
            raise RelayRefused(f"the target rejected a row (SQLSTATE {code})") from None
        raise translate(exc, "finalize", f"COPY into {table.display()}") from None
    try:
        sent = relay.source.finish()
    except SourceCopyError as exc:
        raise translate(exc, "extract", f"reading {relay.describe}") from None
    if loaded != sent:
        raise RelayRefused(f"the source sent {sent} rows and the target took {loaded}")
    relay.on_rows(loaded - reporter.reported)
    found = violation_condition(relay.columns, relay.contract, int(sink.con.server_version))
    if found is None:
        raise RelayRefused("the contract has no SQL form here")
    checks, params = found
    if checks:
        scan = f"SELECT EXISTS (SELECT 1 FROM {sink.dialect.table(table)} WHERE {checks})"
        if sink.query(scan, params)[0][0]:
            raise RelayRefused("a row needs the contract gate")
    return loaded


def _raise_source_error(relay: BinaryRelay) -> None:
    """Raise the reading process's own error if it failed.

    A failed source has reported and exited by the time its stream ends; one still copying gets a
    broken pipe once the output is closed, and the short wait ends either way.
    """
    relay.source.close_output()
    try:
        relay.source.finish(timeout=1)
    except SourceCopyError as exc:
        raise translate(exc, "extract", f"reading {relay.describe}") from None
    except Exception:  # noqa: BLE001 - still running, or no result: the caller's error stands
        return


class _Progress:
    """Passes the source's chunks to the COPY, reporting rows as the reading process marks them."""

    def __init__(self, relay: BinaryRelay) -> None:
        self.relay = relay
        self.reported = 0

    def chunks(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.relay.source.chunks()):
            if index == 0:
                checkpoint("extract")  # the source is being read
            yield chunk
            if index == 0:
                checkpoint("copy")  # the target's COPY has rows
            passed = self.relay.source.marked_rows - self.reported
            if passed > 0:
                self.reported += passed
                self.relay.on_rows(passed)
