"""Everything an attempt decides before the first row moves: clean-up, state, the read, the plan gates.

The plan gates are an ordered list (:data:`PLAN_GATES`): each reads what the ones before it
decided and may refuse the load. A new gate that must decide before any row is read is one more
entry here; gates that judge rows run in the stream (:mod:`.pipeline`) or before the commit
(:mod:`.commit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from dpone_core.errors import ContractViolation, SchemaEvolutionBlocked
from dpone_core.gates.compatibility import CompatibilityGate
from dpone_core.gates.contract import ContractGate
from dpone_core.gates.ddl import physical_ddl
from dpone_core.gates.evolution import EvolutionPlan, plan_evolution
from dpone_core.gates.quarantine import QuarantineWriter, discard_uncommitted
from dpone_core.introspection import identifying_key, unique_keys
from dpone_core.model import TargetSchema
from dpone_core.runtime.attempt_log import AttemptLog
from dpone_core.runtime.chunks.source import ChunkSource
from dpone_core.runtime.context import RunContext, effective_contract, history_columns
from dpone_core.runtime.pipeline import GatedStream
from dpone_core.runtime.read_plan import ChunkPhase, OpenedRead, open_read
from dpone_core.runtime.report import GateVerdict
from dpone_core.spi.ports import Sink, Source


@dataclass
class Draft:
    """What the plan gates read and fill in, in order."""

    ctx: RunContext
    sink: Sink
    source: Source
    log: AttemptLog
    state_before: dict[str, object] | None
    current: TargetSchema | None
    contract: ContractGate
    opened: OpenedRead
    evolution: EvolutionPlan | None = None
    ddl: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """A load ready to write: the decisions of the plan gates and the gated stream of rows."""

    draft: Draft
    evolution: EvolutionPlan
    ddl: list[str]
    quarantine: QuarantineWriter
    stream: GatedStream

    @property
    def contract(self) -> ContractGate:
        """The contract gate the stream applies."""
        return self.draft.contract


PlanGate = Callable[[Draft], None]


def contract_columns_gate(draft: Draft) -> None:
    """Every column the contract names must be in the source."""
    schema = draft.opened.reader.schema
    missing = draft.contract.missing_columns(schema)
    if missing:
        raise ContractViolation(
            f"contract columns {missing} are not in the source ({schema.names})",
            step="contract",
            fix="fix schema_contract.columns or source.columns",
        )


def evolution_gate(draft: Draft) -> None:
    """New, removed and changed columns against the target, by the process's evolution policy."""
    draft.log.step("evolution")
    process, contract, schema = draft.ctx.process, draft.contract, draft.opened.reader.schema
    marker = process.sink.delete_marker
    hard_marker = marker is not None and (marker.mode == "hard" or process.sink.strategy == "scd2")
    evolution = plan_evolution(
        contract.output_schema(schema),
        draft.current,
        process.schema_evolution,
        primary_key=tuple(process.sink.primary_key),
        not_null=contract.not_null
        | frozenset(n for n, r in contract.contract.columns.items() if not r.nullable)
        | frozenset(f.name for f in schema if not f.nullable),  # the source's NOT NULL is kept
        managed_columns=history_columns(process),
        excluded=frozenset({marker.column}) if hard_marker and marker else frozenset(),
    )
    draft.log.gates += [
        GateVerdict(gate="evolution", rule=d.rule, verdict=d.verdict, detail=d.detail) for d in evolution.decisions
    ]
    if evolution.blocked:
        raise SchemaEvolutionBlocked(
            "; ".join(evolution.blocked),
            step="evolution",
            fix="change schema_evolution, or migrate the target table first",
        )
    draft.evolution = evolution


def ddl_gate(draft: Draft) -> None:
    """The physical DDL the evolution needs, refused where the design forbids it (online widening)."""
    draft.log.step("ddl")
    assert draft.evolution is not None
    desired = draft.evolution.desired
    draft.ddl = physical_ddl(
        draft.evolution,
        draft.sink.plan_ddl(draft.current, desired),
        draft.ctx.process.sink.options.physical_design,
        draft.sink.widening_blocks_writers,
    )


PLAN_GATES: tuple[PlanGate, ...] = (contract_columns_gate, evolution_gate, ddl_gate)
"""The gates that decide before any row is read, in their order."""


def owner_of(sink: Sink) -> str:
    """The target's identity in quarantine owner markers (database file or server, and table)."""
    namespace, name = sink.lineage_name()
    return f"{namespace}/{name}"


def clean_up(ctx: RunContext, sink: Sink, log: AttemptLog) -> None:
    """Remove what crashed runs of this process left: staging, and their uncommitted quarantine files."""
    process = ctx.process
    dropped = sink.cleanup_orphans(process.name)
    if dropped:
        log.warnings.append(f"dropped staging left by an interrupted run: {', '.join(dropped)}")
    folder = ctx.path(process.quarantine.dir, "quarantine.dir") / process.name
    single = ctx.sink_spec.capabilities.single_writer
    for name in discard_uncommitted(folder, sink, process.name, owner_of(sink), single_writer=single):
        log.warnings.append(f"removed quarantine file of a load that did not commit: {name}")


def draft(ctx: RunContext, sink: Sink, source: Source, log: AttemptLog) -> Draft:
    """Read the state and the target, open the read and run the plan gates."""
    process = ctx.process
    if not ctx.dry_run:
        clean_up(ctx, sink, log)
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
    log.step("extract")  # opened lazily: the reader streams as the write path pulls
    phase: ChunkPhase | None = "finalize" if ctx.chunk_keys else None
    opened = open_read(
        process, ctx.partition, source, ctx.source_spec.capabilities, contract, state_before, chunk_phase=phase
    )
    log.warnings.extend(source.notes)
    result = Draft(ctx, sink, source, log, state_before, current, contract, opened)
    for gate in PLAN_GATES:
        gate(result)
    return result


def prepare(done: Draft) -> Prepared:
    """The quarantine file and the gated stream for a drafted load."""
    ctx, process, evolution = done.ctx, done.ctx.process, done.evolution
    assert evolution is not None
    quarantine_dir = ctx.path(process.quarantine.dir, "quarantine.dir")
    reader = done.opened.reader
    quarantine = QuarantineWriter(quarantine_dir, process.name, ctx.load_id, reader.schema, owner_of(done.sink))
    marker = process.sink.delete_marker
    stream = GatedStream(
        reader,
        done.opened.row_filter,
        done.contract,
        CompatibilityGate(evolution, {marker.column: pa.bool_()} if marker else {}),
        quarantine,
        done.opened.tracker,
        done.log.progress,
        process.source.batch_rows,
        process.source.batch_bytes,
    )
    return Prepared(done, evolution, done.ddl, quarantine, stream)
