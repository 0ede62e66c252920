"""The commit protocol, one step after another inside the sink's finalize session.

DDL -> strategy -> state -> the pre-commit checks (:data:`COMMIT_CHECKS`, in order) -> quarantine
file -> evidence -> audit row and state, committed together by the sink (one transaction where it
has them, its own atomic step where not). A check that refuses, or any failure, leaves nothing
committed. A new check that must see the applied strategy before the state moves (reconcile, say)
is one more entry in :data:`COMMIT_CHECKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.endpoints import sink_table
from dpone_core.evidence.writer import write_evidence
from dpone_core.model import StagedLoad, StrategyCounts
from dpone_core.runtime.context import AttemptOutcome
from dpone_core.runtime.load_plans import load_plan
from dpone_core.runtime.preparation import Prepared
from dpone_core.runtime.records import audit_row, evidence_document
from dpone_core.runtime.results import load_result
from dpone_core.runtime.verdicts import contract_verdicts
from dpone_core.spi.ports import FinalizeSession
from dpone_core.state.cursor import next_state


@dataclass
class Committing:
    """What the pre-commit checks see: the prepared load, its staging and what the strategy did."""

    prepared: Prepared
    staged: StagedLoad
    session: FinalizeSession
    counts: StrategyCounts
    state_after: dict[str, Any]


CommitCheck = Callable[[Committing], None]


def record_contract_verdicts(now: Committing) -> None:
    """The contract's verdicts, once the last row has passed the stream (a direct load streams only now)."""
    record_verdicts(now.prepared)


def check_reconcile(now: Committing) -> None:
    """The process's ``reconcile:`` gate (see :mod:`dpone_core.runtime.reconcile_gate`)."""
    if now.prepared.draft.ctx.process.reconcile is not None:
        from dpone_core.runtime.reconcile_gate import reconcile_gate  # only reconciling runs import the engine

        reconcile_gate(now)


COMMIT_CHECKS: tuple[CommitCheck, ...] = (record_contract_verdicts, check_reconcile)
"""Checks run after the strategy and before the audit row and state are recorded, in order."""


def record_verdicts(prepared: Prepared, *, failed: bool = False) -> None:
    """Record the contract verdicts once (also for a failed run, so checks can show what broke)."""
    log, process = prepared.draft.log, prepared.draft.ctx.process
    if not any(g.gate == "contract" for g in log.gates):
        log.gates += contract_verdicts(
            prepared.contract, prepared.stream.stats, process.sink.primary_key, failed=failed
        )


def commit(prepared: Prepared, staged: StagedLoad) -> AttemptOutcome:
    """Apply the load to the target and commit it with its audit row and state."""
    draft = prepared.draft
    ctx, process, sink, log = draft.ctx, draft.ctx.process, draft.sink, draft.log
    plan = load_plan(
        process, sink_table(process), staged, ctx.started_at, target_empty=prepared.evolution.creates_table
    )
    log.step("finalize")
    with sink.finalize(process.name, ctx.load_id) as session:
        checkpoint("finalize")
        session.apply_ddl(prepared.ddl)
        counts = session.apply_strategy(plan)
        # After the strategy: in a direct first load the rows (and the cursor) flow only now.
        # Source-held state (the xmin horizon) belongs to a completed read; partition runs leave it.
        held = draft.source.held_state() if ctx.partition is None else None
        state_after = next_state(draft.state_before, draft.opened.tracker, ctx.run_id, ctx.load_id, held)
        for check in COMMIT_CHECKS:
            check(Committing(prepared, staged, session, counts, state_after))
        artifact = prepared.quarantine.close()
        artifacts = (
            [{"kind": "quarantine", "path": artifact[0], "sha256": artifact[1], "rows": prepared.quarantine.rows}]
            if artifact
            else []
        )
        result = load_result(
            sink,
            draft.source,
            draft.state_before,
            state_after,
            ddl=prepared.ddl,
            stream=prepared.stream,
            staged=staged,
            counts=counts,
            artifacts=artifacts,
            target=prepared.evolution.desired,
            **log.so_far(),
        )
        log.step("evidence")
        evidence_sha = None
        if process.runtime_evidence.output_dir:
            files = write_evidence(
                ctx.path(process.runtime_evidence.output_dir, "runtime_evidence.output_dir"),
                evidence_document(
                    ctx,
                    result,
                    artifacts,
                    source=draft.source.describe(),
                    target=sink.describe(),
                    objects=sink.written_objects(staged),
                ),
            )
            evidence_sha = files.sha256
            result = result.model_copy(update={"evidence_paths": [str(files.json_path), str(files.markdown_path)]})
        checkpoint("commit")
        session.record(audit_row(ctx, result, evidence_sha), state_after)
    return AttemptOutcome("succeeded", result, process.sink.strategy)
