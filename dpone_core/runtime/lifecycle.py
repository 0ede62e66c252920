"""One attempt of one process, in the fail-closed order of ARCHITECTURE §1.

extract -> contract gate -> evolution gate -> type gate -> DDL gate -> stage -> finalize
(DDL + strategy + evidence + audit row + state in one transaction) -> report.
A failure anywhere before the commit leaves the target and the state as they were.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connections.references import UnresolvedReference
from dpone_core.connectors.endpoints import open_sink, open_source, sink_table
from dpone_core.connectors.sql.sink import staging_name
from dpone_core.errors import (
    ConfigurationError,
    ContractViolation,
    DuplicateKeyError,
    SchemaEvolutionBlocked,
)
from dpone_core.evidence.writer import write_evidence
from dpone_core.gates.compatibility import CompatibilityGate
from dpone_core.gates.contract import ContractGate
from dpone_core.gates.ddl import physical_ddl
from dpone_core.gates.evolution import EvolutionPlan, plan_evolution
from dpone_core.gates.quarantine import QuarantineWriter, discard_uncommitted
from dpone_core.introspection import identifying_key, unique_keys
from dpone_core.model import SEQ_COLUMN, StagedLoad, TableRef
from dpone_core.runtime.chunks.extract import chunk_store
from dpone_core.runtime.chunks.source import ChunkSource
from dpone_core.runtime.context import AttemptOutcome, RunContext, effective_contract, history_columns
from dpone_core.runtime.direct import direct_eligible, relay_allowed
from dpone_core.runtime.load_plans import load_plan
from dpone_core.runtime.pipeline import GatedStream
from dpone_core.runtime.progress import ProgressTracker
from dpone_core.runtime.read_plan import open_read
from dpone_core.runtime.records import audit_row, evidence_document
from dpone_core.runtime.report import GateVerdict, RunResult
from dpone_core.runtime.results import load_result
from dpone_core.runtime.verdicts import contract_verdicts, resolve_duplicates
from dpone_core.spi.ports import RelayRefused
from dpone_core.state.cursor import CursorTracker, next_state


class _StageInstead(Exception):
    """Internal: a direct load met a duplicate key and must be redone through staging."""


class _ArrowInstead(Exception):
    """Internal: the sink declined a binary relay; the load is redone with the Arrow stream."""


class Lifecycle:
    """Runs one attempt of one process against its source and sink."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.process = ctx.process
        self.progress = ctx.progress or ProgressTracker(ctx.process.name)
        self.timings: dict[str, float] = {}
        self.gates: list[GateVerdict] = []
        self.warnings: list[str] = []
        self.allow_direct = True
        self.allow_relay = True

    def _step(self, name: str) -> None:
        self.timings[name] = time.monotonic()
        self.progress.enter(name)

    def _so_far(self) -> dict[str, Any]:
        """The warnings, step timings and gate verdicts gathered so far, for :func:`load_result`."""
        return {"warnings": self.warnings, "step_seconds": self._close_timings(), "gates": self.gates}

    def _close_timings(self) -> dict[str, float]:
        names = list(self.timings)
        now = time.monotonic()
        return {
            n: round((self.timings[names[i + 1]] if i + 1 < len(names) else now) - self.timings[n], 4)
            for i, n in enumerate(names)
        }

    def run(self) -> AttemptOutcome:
        """Execute the attempt; raises DponeError on failure (the caller builds the report)."""
        ctx, process = self.ctx, self.process
        self._step("connect")
        try:
            sink = open_sink(
                ctx.loaded.manifest, process, ctx.loaded.base_dir, read_only=ctx.dry_run, loading=not ctx.dry_run
            )
        except UnresolvedReference as exc:
            raise ConfigurationError(
                f"sink connection: {exc}", step="connect", fix="export the variable or create the file"
            ) from None
        try:
            return self._run_with_sink(sink)
        finally:
            sink.close()

    def _run_with_sink(self, sink: Any) -> AttemptOutcome:
        ctx, process = self.ctx, self.process
        if not ctx.restart and not ctx.dry_run:
            committed = sink.committed_load(process.name, ctx.run_id)
            if committed is not None:
                result = RunResult(
                    state_after=sink.read_state(process.name),
                    target=sink.describe(),
                    warnings=[
                        f"run_id {ctx.run_id} already committed as load "
                        f"{committed['load_id']}; nothing to do (use --restart to run again)"
                    ],
                )
                if ctx.chunk_keys is not None:
                    chunk_store(ctx).remove()  # left by a finalize that committed and then died
                return AttemptOutcome("skipped", result, process.sink.strategy)
        try:
            source = self._open_source(sink)
        except UnresolvedReference as exc:
            raise ConfigurationError(
                f"source connection: {exc}", step="connect", fix="export the variable or create the file"
            ) from None
        try:
            while True:
                try:
                    return self._run_with_source(sink, source)
                except _ArrowInstead:
                    # The relay's checks found a row the gates must judge, or the target's types
                    # differ: nothing was committed; read again as Arrow, where the gates decide.
                    self.allow_relay = False
                except _StageInstead:
                    # A load streamed straight into its target met a duplicate key: start over
                    # through staging, where duplicates are found, quarantined or reported by rule.
                    self.allow_direct = False
                    self.warnings.append("duplicate keys in a direct load: read again through staging")
                self.gates.clear()
                self.progress.rows = 0
        finally:
            source.close()

    def _open_source(self, sink: Any) -> Any:
        """The process's source; for the finalize of a chunked load, the chunks its extract runs parked."""
        ctx = self.ctx
        if ctx.chunk_keys is None:
            return open_source(ctx.loaded.manifest, ctx.process, ctx.loaded.base_dir, sink)
        store = chunk_store(ctx)
        return ChunkSource(store, store.require(ctx.chunk_keys))

    def _run_with_source(self, sink: Any, source: Any) -> AttemptOutcome:
        ctx, process = self.ctx, self.process
        if not ctx.dry_run:
            dropped = sink.cleanup_orphans(process.name)
            if dropped:
                self.warnings.append(f"dropped staging left by an interrupted run: {', '.join(dropped)}")
            folder = ctx.path(process.quarantine.dir, "quarantine.dir") / process.name
            single = ctx.sink_spec.capabilities.single_writer
            for name in discard_uncommitted(folder, sink, process.name, self._owner(sink), single_writer=single):
                self.warnings.append(f"removed quarantine file of a load that did not commit: {name}")
        state_before = sink.read_state(process.name)
        if isinstance(source, ChunkSource):
            source.require_state(state_before)
        current = sink.target_schema()
        contract = ContractGate(
            effective_contract(process),
            not_null=frozenset(process.sink.primary_key)
            | frozenset(c.name for c in (current.columns if current else ()) if not c.nullable),
            unique_keys=unique_keys(process),
            key=identifying_key(process),
        )

        # ---- extract (opened lazily: the reader streams as staging pulls) ----
        self._step("extract")
        opened = open_read(
            process,
            ctx.partition,
            source,
            ctx.source_spec.capabilities,
            contract,
            state_before,
            chunk_phase="finalize" if ctx.chunk_keys else None,
        )
        reader, row_filter, tracker = opened.reader, opened.row_filter, opened.tracker
        self.warnings.extend(source.notes)
        missing = contract.missing_columns(reader.schema)
        if missing:
            raise ContractViolation(
                f"contract columns {missing} are not in the source ({reader.schema.names})",
                step="contract",
                fix="fix schema_contract.columns or source.columns",
            )

        # ---- evolution, type compatibility and DDL gates decide before any row is read ----
        self._step("evolution")
        incoming = contract.output_schema(reader.schema)
        marker = process.sink.delete_marker
        hard_marker = marker is not None and (marker.mode == "hard" or process.sink.strategy == "scd2")
        evolution = plan_evolution(
            incoming,
            current,
            process.schema_evolution,
            primary_key=tuple(process.sink.primary_key),
            not_null=contract.not_null
            | frozenset(n for n, r in contract.contract.columns.items() if not r.nullable)
            | frozenset(f.name for f in reader.schema if not f.nullable),  # the source's NOT NULL is kept
            managed_columns=history_columns(process),
            excluded=frozenset({marker.column}) if hard_marker and marker else frozenset(),
        )
        self.gates += [
            GateVerdict(gate="evolution", rule=d.rule, verdict=d.verdict, detail=d.detail) for d in evolution.decisions
        ]
        if evolution.blocked:
            raise SchemaEvolutionBlocked(
                "; ".join(evolution.blocked),
                step="evolution",
                fix="change schema_evolution, or migrate the target table first",
            )
        self._step("ddl")
        ddl = physical_ddl(
            evolution,
            sink.plan_ddl(current, evolution.desired),
            process.sink.options.physical_design,
            sink.widening_blocks_writers,
        )
        if ctx.dry_run:
            return AttemptOutcome(
                "planned",
                load_result(sink, source, state_before, None, ddl=ddl, **self._so_far()),
                process.sink.strategy,
            )

        quarantine_dir = ctx.path(process.quarantine.dir, "quarantine.dir")
        quarantine = QuarantineWriter(quarantine_dir, process.name, ctx.load_id, reader.schema, self._owner(sink))
        stream = GatedStream(
            reader,
            row_filter,
            contract,
            CompatibilityGate(evolution, {marker.column: pa.bool_()} if marker else {}),
            quarantine,
            tracker,
            self.progress,
            process.source.batch_rows,
            process.source.batch_bytes,
        )
        can = ctx.sink_spec.capabilities
        if self.allow_direct and direct_eligible(process, can, sink, evolution, contract, ddl, source):
            relay = None
            whole = ctx.partition is None and ctx.chunk_keys is None
            if self.allow_relay and relay_allowed(process, can, opened, contract, evolution, whole=whole):
                relay = source.binary_relay(contract)
            try:
                return self._run_direct(sink, source, evolution, ddl, stream, quarantine, state_before, tracker, relay)
            finally:
                if relay is not None:
                    relay.close()
        staged: StagedLoad | None = None
        try:
            self._step("stage")
            try:
                staged = sink.stage(stream.reader(), ctx.load_id, process.name)
            except BaseException as exc:
                failure = stream.failure(exc)
                if failure is exc:
                    raise
                raise failure from None
            checkpoint("stage")
            key = tuple(process.sink.primary_key)
            # Into a table this load creates, the primary key itself rejects duplicate keys: check
            # them only if the insert fails (the common, clean case skips a full pass over staging).
            deferred = key if evolution.creates_table and key and ctx.sink_spec.capabilities.enforces_keys else ()
            staged = resolve_duplicates(
                sink, staged, contract, quarantine, stream.stats, self.process.sink.primary_key, skip=deferred
            )
            self._verdicts(contract, stream)
            args = (evolution, ddl, stream, quarantine, state_before, tracker)
            try:
                outcome = self._finalize(sink, source, staged, *args)
            except DuplicateKeyError:
                if not deferred:
                    raise
                staged = resolve_duplicates(
                    sink, staged, contract, quarantine, stream.stats, self.process.sink.primary_key, only=deferred
                )
                self.gates = [g for g in self.gates if g.gate != "contract"]
                self._verdicts(contract, stream)
                outcome = self._finalize(sink, source, staged, *args)
        except BaseException:
            stream.close()
            self._verdicts(contract, stream, failed=True)
            quarantine.discard()
            if staged is not None:
                sink.drop_staging(staged)
            raise
        sink.drop_staging(staged)
        self._committed(quarantine)
        return outcome

    @staticmethod
    def _owner(sink: Any) -> str:
        """The target's identity in quarantine owner markers (database file or server, and table)."""
        namespace, name = sink.lineage_name()
        return f"{namespace}/{name}"

    def _committed(self, quarantine: QuarantineWriter) -> None:
        """After the commit: the quarantine file is the target's, the chunks of a chunked load are consumed."""
        quarantine.committed()
        if self.ctx.chunk_keys is not None:
            chunk_store(self.ctx).remove()

    def _run_direct(
        self,
        sink: Any,
        source: Any,
        evolution: EvolutionPlan,
        ddl: list[str],
        stream: GatedStream,
        quarantine: QuarantineWriter,
        state_before: dict[str, Any] | None,
        tracker: CursorTracker | None,
        relay: Any = None,
    ) -> AttemptOutcome:
        """Stream the gated batches straight into the target, in the finalize transaction.

        Into a new table, one the sink truncates in that transaction, or one an append only adds to
        (see :mod:`dpone_core.runtime.direct`), no statement needs to read the rows twice; the
        target's key rejects duplicates (then :class:`_StageInstead` restarts through staging), and
        a gate failure rolls back everything with the transaction.

        With a ``relay`` (a Postgres source into a Postgres target of the same types) the sink may
        pipe the source's bytes instead of the batches; it declines with ``RelayRefused`` (then
        :class:`_ArrowInstead` restarts with the batches).
        """
        name = staging_name(self.process.name, self.ctx.load_id)
        data_schema = pa.schema([f for f in stream.staging_schema() if f.name != SEQ_COLUMN])
        staged = StagedLoad(self.ctx.load_id, "direct", -1, data_schema, TableRef(None, name))
        self._step("stage")
        checkpoint("stage")
        try:
            sink.register_stream(name, stream.reader())
            if relay is not None:
                relay.report_rows_to(stream.count_relayed)
                sink.register_relay(name, relay)
            try:
                args = (evolution, ddl, stream, quarantine, state_before, tracker)
                outcome = self._finalize(sink, source, staged, *args)
            finally:
                sink.unregister_stream(name)
            self._committed(quarantine)
            return outcome
        except DuplicateKeyError:
            quarantine.discard()
            raise _StageInstead from None
        except RelayRefused:
            quarantine.discard()
            raise _ArrowInstead from None
        except BaseException as exc:
            stream.close()
            self._verdicts(stream.contract, stream, failed=True)
            quarantine.discard()
            failure = stream.failure(exc)
            if failure is exc:
                raise
            raise failure from None

    def _verdicts(self, contract: ContractGate, stream: GatedStream, *, failed: bool = False) -> None:
        """Record the contract verdicts once (also for a failed run, so checks can show what broke)."""
        if not any(g.gate == "contract" for g in self.gates):
            self.gates += contract_verdicts(contract, stream.stats, self.process.sink.primary_key, failed=failed)

    def _finalize(
        self,
        sink: Any,
        source: Any,
        staged: StagedLoad,
        evolution: EvolutionPlan,
        ddl: list[str],
        stream: GatedStream,
        quarantine: QuarantineWriter,
        state_before: dict[str, Any] | None,
        tracker: CursorTracker | None,
    ) -> AttemptOutcome:
        ctx, process = self.ctx, self.process
        plan = load_plan(process, sink_table(process), staged, ctx.started_at, target_empty=evolution.creates_table)
        self._step("finalize")
        with sink.finalize(process.name, ctx.load_id) as session:
            checkpoint("finalize")
            session.apply_ddl(ddl)
            counts = session.apply_strategy(plan)
            # After the strategy: in a direct first load the rows (and the cursor) flow only now.
            # Source-held state (the xmin horizon) belongs to a completed read; partition runs leave it.
            extra = source.held_state() if ctx.partition is None else None
            state_after = next_state(state_before, tracker, self.ctx.run_id, self.ctx.load_id, extra)
            self._verdicts(stream.contract, stream)
            artifact = quarantine.close()
            artifacts = (
                [{"kind": "quarantine", "path": artifact[0], "sha256": artifact[1], "rows": quarantine.rows}]
                if artifact
                else []
            )
            result = load_result(
                sink,
                source,
                state_before,
                state_after,
                ddl=ddl,
                stream=stream,
                staged=staged,
                counts=counts,
                artifacts=artifacts,
                target=evolution.desired,
                **self._so_far(),
            )
            self._step("evidence")
            evidence_sha = None
            if process.runtime_evidence.output_dir:
                files = write_evidence(
                    ctx.path(process.runtime_evidence.output_dir, "runtime_evidence.output_dir"),
                    evidence_document(self.ctx, result, artifacts, source=source.describe(), target=sink.describe()),
                )
                evidence_sha = files.sha256
                result = result.model_copy(update={"evidence_paths": [str(files.json_path), str(files.markdown_path)]})
            checkpoint("commit")
            session.record(audit_row(self.ctx, result, evidence_sha), state_after)
        return AttemptOutcome("succeeded", result, process.sink.strategy)


__all__ = ["AttemptOutcome", "Lifecycle", "RunContext", "effective_contract"]
