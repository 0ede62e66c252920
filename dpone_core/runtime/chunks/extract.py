"""The extract run of a chunked load: read one partition's slice and park it; the target is not touched."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connections.references import UnresolvedReference
from dpone_core.connectors.endpoints import open_sink, open_source
from dpone_core.errors import ConfigurationError
from dpone_core.gates.contract import ContractGate
from dpone_core.introspection import unique_keys
from dpone_core.model import iter_batches
from dpone_core.runtime.chunks.store import chunk_store
from dpone_core.runtime.context import AttemptOutcome, RunContext, effective_contract
from dpone_core.runtime.progress import ProgressTracker
from dpone_core.runtime.read_plan import open_read
from dpone_core.runtime.report import RunResult
from dpone_core.spi.ports import Sink, Source


class ChunkExtract:
    """Extracts partition ``ctx.partition`` of ``ctx.process`` into the run's chunk store.

    The sink is opened read-only: to skip a run id that already committed, to read the committed
    cursor the partition is filtered by, and to share a DuckDB connection with a DuckDB source. No
    gate runs here (the finalize run gates every row once).
    """

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.progress = ctx.progress or ProgressTracker(ctx.process.name)

    def run(self) -> AttemptOutcome:
        """Park the partition's rows; raises DponeError on failure (nothing is parked then)."""
        ctx, process = self.ctx, self.ctx.process
        assert ctx.partition is not None
        started = time.monotonic()
        self.progress.enter("connect")
        try:
            sink = open_sink(ctx.loaded.manifest, process, ctx.loaded.base_dir, read_only=True)
        except UnresolvedReference as exc:
            raise ConfigurationError(
                f"sink connection: {exc}", step="connect", fix="export the variable or create the file"
            ) from None
        try:
            committed = None if ctx.restart else sink.committed_load(process.name, ctx.run_id)
            if committed is not None:
                warning = (
                    f"run_id {ctx.run_id} already committed as load {committed['load_id']}; "
                    "nothing to extract (use --restart to run again)"
                )
                return AttemptOutcome(
                    "skipped", RunResult(target=sink.describe(), warnings=[warning]), process.sink.strategy
                )
            try:
                source = open_source(ctx.loaded.manifest, process, ctx.loaded.base_dir, sink)
            except UnresolvedReference as exc:
                raise ConfigurationError(
                    f"source connection: {exc}", step="connect", fix="export the variable or create the file"
                ) from None
            try:
                return self._extract(sink, source, started)
            finally:
                source.close()
        finally:
            sink.close()

    def _extract(self, sink: Sink, source: Source, started: float) -> AttemptOutcome:
        ctx, process = self.ctx, self.ctx.process
        assert ctx.partition is not None
        self.progress.enter("extract")
        contract = ContractGate(effective_contract(process), unique_keys=unique_keys(process))
        state = sink.read_state(process.name)
        opened = open_read(
            process, ctx.partition, source, ctx.source_spec.capabilities, contract, state, chunk_phase="extract"
        )
        row_filter = opened.row_filter

        def filtered() -> Iterator[pa.RecordBatch]:
            for batch in iter_batches(opened.reader):
                kept = row_filter.apply(batch)
                self.progress.advance(batch.num_rows)
                checkpoint("chunk")
                yield kept

        reader = pa.RecordBatchReader.from_batches(opened.reader.schema, filtered())
        info = chunk_store(ctx).write(
            ctx.partition,
            reader,
            source.describe(),
            source.lineage_name(),
            (state or {}).get("load_id"),
            state_dependent=process.source.incremental is not None,
        )
        result = RunResult(
            extracted_rows=info.rows,
            source=source.describe(),
            target=sink.describe(),
            warnings=list(source.notes),
            step_seconds={"extract": round(time.monotonic() - started, 4)},
            state_before=state,
        )
        return AttemptOutcome("extracted", result, process.sink.strategy)
