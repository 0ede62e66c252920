"""The streaming part of a run: source batches -> filters -> contract -> compatibility -> staging.

Everything here works on whole Arrow batches; the only per-batch Python is bookkeeping.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.checkpoints import checkpoint
from dpone_core.gates.compatibility import CompatibilityGate
from dpone_core.gates.contract import ContractGate
from dpone_core.gates.quarantine import QuarantineWriter
from dpone_core.gates.types import cast_with_failures
from dpone_core.model import SEQ_COLUMN, Predicate, iter_batches
from dpone_core.runtime.prefetch import prefetch
from dpone_core.runtime.progress import ProgressTracker
from dpone_core.state.cursor import CursorTracker

_OPS = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal, "==": pc.equal}


@dataclass
class RowFilter:
    """Incremental and partition predicates, evaluated on typed values of the raw batch.

    Text columns (CSV) are converted with the contract's type first, so a cursor stored as a
    timestamp compares as a timestamp. Rows whose filter column is null or unreadable are dropped
    once a bound exists (they cannot be placed relative to it).
    """

    predicates: tuple[Predicate, ...]
    types: dict[str, pa.DataType] = field(default_factory=dict)

    def typed(self, batch: pa.RecordBatch, column: str) -> pa.Array:
        """The column converted to the type its predicate compares in."""
        values = batch.column(column)
        target = self.types.get(column)
        if target is not None and values.type != target:
            values, _ = cast_with_failures(values, target)
        return values

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Keep rows satisfying every predicate."""
        if not self.predicates or batch.num_rows == 0:
            return batch
        mask = None
        for predicate in self.predicates:
            values = self.typed(batch, predicate.column)
            value = predicate.value
            if pa.types.is_date(values.type) and isinstance(value, datetime):
                value = value.date()  # partition windows start at midnight; compare as dates
            bound = pa.scalar(value)
            if bound.type != values.type:
                bound = cast_with_failures(pa.array([value]), values.type)[0][0]
            term = pc.fill_null(_OPS[predicate.op](values, bound), False)
            mask = term if mask is None else pc.and_(mask, term)
        return batch.filter(mask)


def rebatch(reader: pa.RecordBatchReader, max_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """Yield zero-copy slices so no batch exceeds ``max_rows`` rows or roughly ``max_bytes`` bytes."""
    for batch in iter_batches(reader):
        if batch.num_rows == 0:
            continue
        row_bytes = max(batch.nbytes // max(batch.num_rows, 1), 1)
        step = max(1, min(max_rows, max_bytes // row_bytes))
        for offset in range(0, batch.num_rows, step):
            yield batch.slice(offset, step)


@dataclass
class StreamStats:
    """Counts gathered while streaming."""

    extracted: int = 0
    passed: int = 0
    quarantined: int = 0
    failures: Counter[str] = field(default_factory=Counter)


@dataclass
class GatedStream:
    """Wires the gates over a source reader and exposes the result as a RecordBatchReader for staging."""

    source: pa.RecordBatchReader
    row_filter: RowFilter
    contract: ContractGate
    compatibility: CompatibilityGate
    quarantine: QuarantineWriter
    cursor: CursorTracker | None
    progress: ProgressTracker
    max_rows: int
    max_bytes: int
    stats: StreamStats = field(default_factory=StreamStats)
    error: Exception | None = None
    """The exception a gate raised while the sink was pulling batches (engines wrap it in their own)."""
    _feed: Generator[pa.RecordBatch, None, None] | None = field(default=None, repr=False)

    def staging_schema(self) -> pa.Schema:
        """Schema of staged batches: conformed columns plus the sequence column."""
        gated = self.contract.output_schema(self.source.schema)
        return self.compatibility.output_schema(gated).append(pa.field(SEQ_COLUMN, pa.int64(), False))

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._gated_batches()
        except Exception as exc:
            # Not GeneratorExit or KeyboardInterrupt: a consumer that stopped pulling (an
            # interrupted load) is not a gate failure, and must not replace the interrupt.
            self.error = exc
            raise

    def failure(self, raised: BaseException) -> BaseException:
        """What a failed load raises: the gate's own error unless the user interrupted the run."""
        if self.error is not None and not isinstance(raised, KeyboardInterrupt):
            return self.error
        return raised

    def _gated_batches(self) -> Iterator[pa.RecordBatch]:
        schema = self.staging_schema()
        seq = 0
        for raw in rebatch(self.source, self.max_rows, self.max_bytes):
            batch = self.row_filter.apply(raw)
            if batch.num_rows == 0:
                continue
            self.stats.extracted += batch.num_rows
            if self.cursor is not None:
                self.cursor.observe(self._typed_cursor(batch))
            verdict = self.contract.check(batch)
            self._reject(verdict.rejected, verdict.failures)
            conformed = self.compatibility.conform(verdict.valid, verdict.valid_raw)
            self._reject(conformed.rejected, conformed.failures)
            good = conformed.valid
            if good.num_rows:
                seqs = pa.array(np.arange(seq, seq + good.num_rows, dtype=np.int64))
                seq += good.num_rows
                self.stats.passed += good.num_rows
                arrays = [good.column(f.name) for f in schema if f.name != SEQ_COLUMN]
                yield pa.RecordBatch.from_arrays([*arrays, seqs], schema=schema)
                if seq == good.num_rows:
                    checkpoint("stream")  # the sink is pulling the first batches
            self.progress.advance(batch.num_rows)

    def _typed_cursor(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        assert self.cursor is not None
        column = self.cursor.column
        if column not in batch.schema.names:
            return batch
        return pa.RecordBatch.from_arrays([self.row_filter.typed(batch, column)], names=[column])

    def _reject(self, rejected: pa.RecordBatch | None, failures: Counter[str]) -> None:
        self.stats.failures.update(failures)
        if rejected is not None and rejected.num_rows:
            self.quarantine.write(rejected)
            self.stats.quarantined += rejected.num_rows

    def count_relayed(self, rows: int) -> None:
        """Count rows a sink relayed past the stream (their checks run in the target, see ``relay``)."""
        self.stats.extracted += rows
        self.stats.passed += rows
        self.progress.advance(rows)

    def reader(self) -> pa.RecordBatchReader:
        """The gated stream as a reader the sink can bulk-load."""
        self._feed = prefetch(self._batches())
        return pa.RecordBatchReader.from_batches(self.staging_schema(), self._feed)

    def close(self) -> None:
        """Stop the read-ahead thread of a load that ended early (failed or interrupted)."""
        feed, self._feed = self._feed, None
        if feed is not None:
            with contextlib.suppress(ValueError):  # still executing in an engine's thread: it ends with it
                feed.close()


def cursor_type(contract: ContractGate, schema: pa.Schema, column: str) -> Any:
    """The type a cursor column compares in: the contract's type if declared, else the source's."""
    from dpone_core.gates.types import contract_arrow_type

    rule = contract.contract.columns.get(column)
    declared = contract_arrow_type(rule) if rule else None
    if declared is not None:
        return declared
    return schema.field(column).type if column in schema.names else None
