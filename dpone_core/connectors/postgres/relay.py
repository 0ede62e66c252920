"""Postgres -> Postgres binary relay: a load whose rows never become Arrow.

When every column has the same built-in type in the source and in the target, the bytes of the
source's ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` are exactly what the target's
``COPY ... FROM STDIN (FORMAT binary)`` takes. The finalize transaction pipes one into the other,
and the client decodes and re-encodes nothing: on two cores the Arrow path costs about a quarter
of the raw pipe's speed in decoding and encoding alone. The rows go into a table that holds only
the load's rows: the target itself (one the load creates, or a full_refresh that truncates it), or,
for a merge, a TEMP table of the transaction (:func:`create_staging`) that the merge statements
then read as they read any staging table.

The gates still decide before the commit. Because that table holds only the load's rows, one SQL
scan in the same transaction looks for every row the Arrow gates could reject
(:mod:`.relay_checks`, minus what the table's own types and constraints rule out); a merge's
staging table declares the same checks (and its key) as constraints, so its COPY refuses such a
row instead. When the scan finds a row, or a COPY rejects one, the sink declines with
:class:`RelayRefused`: the transaction rolls back and the runtime reads again as Arrow, whose
gates decide and report as they always do. A load with a rule that has no exact
SQL form here (a regex, a type conversion, quarantine) never takes the relay.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.postgres.connection import sqlstate, translate
from dpone_core.connectors.postgres.copy_out import CopyOutProcess, SourceCopyError
from dpone_core.connectors.postgres.libpq_copy import copy_in
from dpone_core.connectors.postgres.relay_checks import (
    GUARANTEES_SQL,
    RELAY_TYPES,
    TableGuarantees,
    guarantees_of,
    null_checked,
    violation_condition,
    violation_terms,
)
from dpone_core.connectors.postgres.types import arrow_type, numeric_type
from dpone_core.errors import DponeError
from dpone_core.model import TableRef
from dpone_core.spi.ports import RelayRefused

if TYPE_CHECKING:
    from dpone_core.connectors.postgres.sink import PostgresSink
    from dpone_core.gates.contract import ContractGate

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
    if type_oid == 1700:  # numeric
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


def require_compatible(
    sink: PostgresSink, table: TableRef, relay: BinaryRelay, *, checked_in_table: bool = True
) -> None:
    """The target takes the source's binary values as they are, and the checks judge them as Arrow would.

    Otherwise :class:`RelayRefused`. Each column: the same type (``varchar`` also goes into
    ``text``), the target's typmod unset or equal, and the same Arrow type on both sides (an
    unconstrained target ``numeric`` is ``decimal128(38, 9)`` to the Arrow path, which converts and
    may quarantine). A target encoding whose byte order is UTF-8's. When the checks scan the target
    itself (``checked_in_table``), no triggers: they may change rows on the way in, after the checks
    would see them (a merge checks its staging table, and the Arrow path fires them the same way).
    """
    encoding = sink.query("SELECT current_setting('server_encoding')")[0][0]
    if encoding not in _BYTEWISE_ENCODINGS:
        raise RelayRefused(f"the target database's encoding is {encoding}")
    if checked_in_table and sink.query(_USER_TRIGGERS_SQL, (sink.dialect.table(table),))[0][0]:
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


def create_staging(sink: PostgresSink, name: str, relay: BinaryRelay, key: tuple[str, ...]) -> TableRef:
    """A TEMP table (dropped at commit) of the source's own column types that itself refuses what the checks look for.

    For a load whose strategy reads its rows in SQL (a merge). Instead of a scan after the COPY,
    the table declares the checks: NOT NULL where a term tests for null, one CHECK with the
    negation of the other terms (a CHECK fails exactly where its condition is false, so where the
    scan's would be true) and the key as primary key (a key repeated within the load). The COPY
    then refuses such a row as it arrives, and the load goes to the Arrow path. The rules' values
    are inlined by psycopg2's quoting: DDL binds no parameters.
    """
    terms = violation_terms(relay.columns, relay.contract, int(sink.con.server_version))
    if terms is None:
        raise RelayRefused("the contract has no SQL form here")
    required = null_checked(terms)
    rows = sink.query(
        "SELECT format_type(o, m) FROM unnest(CAST(\x00p AS oid[]), CAST(\x00p AS int[])) "
        "WITH ORDINALITY AS c(o, m, i) ORDER BY i",
        ([c.type_oid for c in relay.columns], [c.typmod for c in relay.columns]),
    )
    parts = [
        f"{sink.dialect.quote(c.name)} {type_sql}{' NOT NULL' if c.name in required else ''}"
        for c, (type_sql,) in zip(relay.columns, rows, strict=True)
    ]
    # Every relayed numeric has a precision, which refuses infinity by itself (relay_column_supported).
    numerics = frozenset(c.name for c in relay.columns if c.type_oid == 1700)
    held = TableGuarantees(not_null=required, bounded_numeric=numerics)
    rest = [t for t in terms if not held.rules_out(t)]
    if rest:
        condition = sink.inline_values(" OR ".join(t.sql for t in rest), [p for t in rest for p in t.params])
        parts.append(f"CONSTRAINT dpone_relay_checks CHECK (NOT ({condition}))")
    parts.append(f"PRIMARY KEY ({sink.dialect.column_list(key)})")
    sink.execute(f"CREATE TEMP TABLE {sink.dialect.quote(name)} ({', '.join(parts)}) ON COMMIT DROP")
    return TableRef("pg_temp", name)


def relay_into(sink: PostgresSink, table: TableRef, relay: BinaryRelay, *, staging: bool = False) -> int:
    """Pipe the source's COPY into ``table`` in the open transaction, then run the row checks.

    Returns the rows loaded. A row the checks flag or the COPY rejects raises :class:`RelayRefused`,
    except a duplicate key in the target, which sends the load through staging
    (:class:`DuplicateKeyError`). A ``staging`` table (:func:`create_staging`) checks its rows
    itself as they arrive: no scan. A failed source raises its own error. Either way the caller's
    transaction rolls back.
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
        if code == "23505" and not staging:
            raise duplicate_key(sink) from None
        if code[:2] in {"22", "23"}:
            raise RelayRefused(f"the table rejected a row (SQLSTATE {code})") from None
        raise translate(exc, "finalize", f"COPY into {table.display()}") from None
    try:
        sent = relay.source.finish()
    except SourceCopyError as exc:
        raise translate(exc, "extract", f"reading {relay.describe}") from None
    if loaded != sent:
        raise RelayRefused(f"the source sent {sent} rows and the target took {loaded}")
    relay.on_rows(loaded - reporter.reported)
    if not staging:
        _check_rows(sink, table, relay)
    return loaded


def _check_rows(sink: PostgresSink, table: TableRef, relay: BinaryRelay) -> None:
    """One scan of the loaded rows for the terms the table does not guarantee; none when nothing is left."""
    guarantees = guarantees_of(sink.query(GUARANTEES_SQL, (sink.dialect.table(table),)))
    found = violation_condition(relay.columns, relay.contract, int(sink.con.server_version), guarantees)
    if found is None:
        raise RelayRefused("the contract has no SQL form here")
    checks, params = found
    if checks:
        scan = f"SELECT EXISTS (SELECT 1 FROM {sink.dialect.table(table)} WHERE {checks})"
        if sink.query(scan, params)[0][0]:
            raise RelayRefused("a row needs the contract gate")


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
