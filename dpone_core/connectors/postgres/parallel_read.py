"""One large table read as several ``ctid`` ranges at once, in one snapshot, merged in a fixed order.

A single binary COPY out is decoded (and its ``numeric`` text cast to decimals) on one thread, and
its server backend is one process: on a DuckDB sink that thread is the load's slowest stage while
DuckDB's own inserts wait. Here each range is a COPY of its own on its own ADBC session, read and
conformed by its own thread (the driver and pyarrow release the GIL), and the batches are handed on
round-robin, one per range in turn, so the stream is the same on every run of the same table.

Every range sees the same rows a single read would: the control session exports its snapshot
(``pg_export_snapshot``) and each reading session imports it (``SET TRANSACTION SNAPSHOT``) before its
COPY, so a row written meanwhile is in no range or, if committed before, in exactly one (each row has
one ``ctid``; the last range has no upper bound, so rows on pages added since the size was read are
read too). Ranges need a TID range scan (Postgres 14+): older servers, small tables, views, queries,
an xmin read and a server that refuses the export or the extra sessions all read as one COPY.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dpone_core.connectors.postgres.connection import ParallelSessions

MIN_RANGE_BYTES = 64 << 20
"""A range below this is not worth a session of its own (its start costs ~40 ms)."""
MAX_RANGES = 4
_QUEUE_DEPTH = 8
"""Batches (about ``batch_bytes`` each) a range may read ahead: enough that the round-robin hand-on
rarely waits on one range while another's queue is full (depth 2 measured such stalls)."""
_DONE = object()


@dataclass(frozen=True)
class CtidRange:
    """Pages ``[first, end)`` of the table's heap; ``end`` None for the last range (no upper bound)."""

    first: int
    end: int | None

    def predicate(self) -> str:
        """The WHERE term (literals of integers only: nothing of the user's is in it).

        >>> CtidRange(0, 10).predicate(), CtidRange(10, None).predicate()
        ("ctid < '(10,0)'::tid", "ctid >= '(10,0)'::tid")
        """
        terms = [f"ctid >= '({self.first},0)'::tid"] if self.first else []
        if self.end is not None:
            terms.append(f"ctid < '({self.end},0)'::tid")
        return " AND ".join(terms) or "TRUE"


def plan_ranges(heap_bytes: int, block_size: int, wanted: int | None, cpus: int) -> list[CtidRange]:
    """Split a heap of ``heap_bytes`` into ranges of equal pages; one range means a single COPY.

    ``wanted`` is ``source.options.parallel_reads``. None: one range per ``MIN_RANGE_BYTES``, at most
    ``MAX_RANGES`` and one per two CPUs, since each range keeps a server backend and a decoding
    thread busy (on two cores a second range measured no faster: the backend, the decoder and the
    sink already share both, see docs/connectors/postgres.md).

    >>> plan_ranges(200 << 20, 8192, None, 2)
    [CtidRange(first=0, end=None)]
    >>> plan_ranges(200 << 20, 8192, None, 4)
    [CtidRange(first=0, end=12800), CtidRange(first=12800, end=None)]
    """
    pages = heap_bytes // max(block_size, 1)
    count = wanted if wanted is not None else min(MAX_RANGES, cpus // 2, heap_bytes // MIN_RANGE_BYTES)
    count = max(1, min(count, pages))
    bounds = [pages * index // count for index in range(count)]
    return [CtidRange(first, bounds[i + 1] if i + 1 < count else None) for i, first in enumerate(bounds)]


RANGES_SQL = (
    "SELECT c.relkind, pg_relation_size(c.oid), current_setting('block_size')::int, "
    "current_setting('server_version_num')::int FROM pg_class c WHERE c.oid = to_regclass(%s)"
)
"""What decides the ranges: the relation's kind and heap size, and whether the server has TID range scans."""


def table_ranges(control: Any, regclass: str, wanted: int | None) -> list[CtidRange]:
    """The ranges a read of the table ``regclass`` (a quoted name) takes; one range: a single COPY.

    Driver errors reach the caller (it names the source). Only plain tables and materialized views
    have a heap of their own; Postgres 14 brought the TID range scan that keeps each range's COPY
    from scanning the whole table.
    """
    cpus = os.cpu_count() or 1
    if wanted is None and cpus < 4:  # one range by default: no round trip to learn the size
        return [CtidRange(0, None)]
    with control.cursor() as cur:
        cur.execute(RANGES_SQL, (regclass,))
        row = cur.fetchone()
    if row is None or row[0] not in ("r", "m") or int(row[3]) < 140000:
        return [CtidRange(0, None)]
    return plan_ranges(int(row[1]), int(row[2]), wanted, cpus)


class SnapshotSessions:
    """The reading sessions of one parallel read, all in the snapshot the control session exported.

    The first is the source's own ADBC session (kept open after the read); the others are opened
    for the read and closed after it.
    """

    def __init__(self, first: Any, extra: ParallelSessions) -> None:
        self.extra = extra
        self.sessions = [first, *extra.sessions]

    @classmethod
    def open(cls, control: Any, first: Any, params: dict[str, str], count: int) -> SnapshotSessions | None:
        """``count`` sessions in one snapshot, or None (all cleaned up) when the server refuses one or the export."""
        found = cls(first, ParallelSessions.open(params, count - 1))
        if found.extra.refused is not None:
            return None
        try:
            found._import_snapshot(control)
        except Exception:  # noqa: BLE001 - a server that cannot export (a standby of some versions) reads as one COPY
            found.close()
            return None
        return found

    def _import_snapshot(self, control: Any) -> None:
        """Export on the control session, import on each reading one, then end the export."""
        with control.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = str(cur.fetchone()[0])
                for session in self.sessions:
                    _run(session, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    # Hex digits and dashes from the server's own function; a parameter cannot go here.
                    _run(session, f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            finally:
                cur.execute("ROLLBACK")  # an imported snapshot stays valid after its exporter ends

    def close(self) -> None:
        """End each session's read-only transaction and close the extra sessions; never raises."""
        for session in self.sessions:
            with contextlib.suppress(Exception):
                _run(session, "ROLLBACK")
        self.extra.close()


def _run(session: Any, sql: str) -> None:
    cursor = session.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


class RangeReader:
    """Reads each range on its own session and thread; :meth:`batches` hands them on round-robin."""

    def __init__(
        self,
        sessions: list[Any],
        sqls: list[str],
        batch_bytes: int,
        convert: Callable[[pa.RecordBatch], pa.RecordBatch],
    ) -> None:
        self.sessions, self.sqls, self.batch_bytes, self.convert = sessions, sqls, batch_bytes, convert
        self.queues: list[queue.Queue[object]] = [queue.Queue(maxsize=_QUEUE_DEPTH) for _ in sqls]
        self.stop = threading.Event()
        self.cursors: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []
        self.finished: set[int] = set()

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Every range's batches, one from each range still reading in turn; a range's error raises here."""
        for index in range(len(self.sqls)):
            thread = threading.Thread(target=self._read, args=(index,), name=f"dpone-pg-range-{index}", daemon=True)
            self.threads.append(thread)
            thread.start()
        active = list(range(len(self.sqls)))
        try:
            while active:
                for index in list(active):
                    item = self.queues[index].get()
                    if item is _DONE:
                        active.remove(index)
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
        finally:
            self.close()

    def _read(self, index: int) -> None:
        out = self.queues[index]
        try:
            cursor = self.sessions[index].cursor()
            self.cursors[index] = cursor
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(max(self.batch_bytes, 1 << 16))}
            )
            cursor.execute(self.sqls[index])
            reader = cursor.fetch_record_batch()
            while not self.stop.is_set():
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                self._put(out, self.convert(batch))
            self.finished.add(index)
            self._put(out, _DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(out, exc)

    def _put(self, out: queue.Queue[object], item: object) -> None:
        while not self.stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Stop the readers (a COPY still running is cancelled) and wait for their threads."""
        self.stop.set()
        for index, cursor in list(self.cursors.items()):
            if index not in self.finished:  # a consumer that stopped early: end the COPY on the server
                with contextlib.suppress(Exception):
                    cursor.adbc_cancel()
        for thread in self.threads:
            thread.join(timeout=30)
        for cursor in self.cursors.values():
            with contextlib.suppress(Exception):
                cursor.close()
