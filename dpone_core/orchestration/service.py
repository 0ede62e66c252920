"""``dpone orchestrate run``: lock -> job state -> ``dpone_core.run`` -> artifacts.

:class:`OrchestratedRunService` only coordinates; the lock (:mod:`.locks`), the durable state
(:mod:`.job_state`), the snippets (:mod:`.handoff`) and the report (:mod:`.run_report`) are separate
classes, and the load itself is the one execution path, :func:`dpone_core.api.run`.

Decisions, in order:

1. The manifest and selector are validated first; a bad manifest exits 2 and touches no state.
2. The lock of the concurrency key is taken (a stale one is replaced). If a live run holds it,
   the run is blocked with ``job_state.already_running``.
3. The run id's job state decides, with the resume policy:

   ============  ==================================  =====================  ======================
   state         fail (default)                      resume                 restart
   ============  ==================================  =====================  ======================
   none          run                                 run                    run
   failed        blocked: ``resume_required``        run again              run again (restart)
   blocked       blocked: ``resume_required``        run again              run again (restart)
   running *     blocked: ``resume_required``        run again              run again (restart)
   committed     no-op: ``already_committed``        no-op                  run again (restart)
   ============  ==================================  =====================  ======================

   \\* a state still marked running while we hold its lock belonged to a run that died; it is
   first recorded as failed.
4. Exit codes are those of ``dpone run`` (0 passed, 1 failed, 2 configuration, 130 interrupted);
   ``already_committed`` exits 0 (the data is there, as with a committed ``--run-id``), the other
   blockers exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dpone_core.durable import write_json
from dpone_core.errors import EXIT_INTERRUPTED, DponeError, InterruptedRun, ManifestError
from dpone_core.orchestration._files import safe_name
from dpone_core.orchestration.handoff import HandoffSpec, SchedulerHandoffBuilder
from dpone_core.orchestration.job_state import Blocker, JobState, LocalJobStateStore
from dpone_core.orchestration.locks import LocalRunLockManager, LockHandle
from dpone_core.orchestration.run_report import OrchestratedRunReport, OrchestrationStatus, artifact_paths
from dpone_core.runtime.progress import ProgressCallback
from dpone_core.runtime.report import RunReport, RunResult
from dpone_core.runtime.runner import error_entry, new_id

ResumePolicy = Literal["fail", "resume", "restart"]

RESUME_REQUIRED = "job_state.resume_required"
ALREADY_RUNNING = "job_state.already_running"
ALREADY_COMMITTED = "job_state.already_committed"


@dataclass(frozen=True)
class OrchestratedRunRequest:
    """One orchestrated run: what to load and under which key, run id and resume policy."""

    manifest_path: str
    selector: str | None = None
    run_id: str | None = None
    registry_paths: tuple[str, ...] = ()
    retry_attempts: int | None = None
    retry_backoff_seconds: float | None = None
    retry_backoff: str | None = None
    concurrency_key: str | None = None
    resume_policy: ResumePolicy = "fail"

    def default_name(self) -> str:
        """``<manifest stem>.<selector>`` (or the stem): what is being loaded."""
        stem = Path(self.manifest_path).stem
        return f"{stem}.{self.selector}" if self.selector else stem

    def effective_key(self) -> str:
        """The lock key: the given concurrency key, else the manifest and selector.

        Not the run id: two run ids of the same process must still exclude each other.
        """
        return self.concurrency_key or self.default_name()


RunExecutor = Callable[[OrchestratedRunRequest, str, bool, ProgressCallback | None], RunReport]


def core_executor(
    request: OrchestratedRunRequest, run_id: str, restart: bool, on_event: ProgressCallback | None
) -> RunReport:
    """Run the request through :func:`dpone_core.api.run` (the default executor)."""
    from dpone_core.api import run

    return run(
        request.manifest_path,
        request.selector,
        run_id=run_id,
        registry_paths=request.registry_paths,
        retry_attempts=request.retry_attempts,
        retry_backoff_seconds=request.retry_backoff_seconds,
        retry_backoff=request.retry_backoff,
        restart=restart,
        on_event=on_event,
    )


@dataclass
class _Outcome:
    status: OrchestrationStatus
    exit_code: int
    blockers: list[Blocker] = field(default_factory=list)
    state: JobState | None = None
    report: RunReport | None = None
    errors: list[str] = field(default_factory=list)


class OrchestratedRunService:
    """Coordinates one run: lock, job state, the core run, artifacts.

    >>> service = OrchestratedRunService(LocalRunLockManager(".dpone/locks"),  # doctest: +SKIP
    ...                                  LocalJobStateStore(".dpone/orchestration-state"))
    >>> report = service.run(OrchestratedRunRequest("orders.yaml", run_id="orders_20260605"))  # doctest: +SKIP
    >>> report.status, report.exit_code  # doctest: +SKIP
    ('committed', 0)
    """

    def __init__(
        self,
        lock_manager: LocalRunLockManager,
        job_state_store: LocalJobStateStore,
        handoff_builder: SchedulerHandoffBuilder | None = None,
        run_executor: RunExecutor | None = None,
    ) -> None:
        self.locks = lock_manager
        self.states = job_state_store
        self.handoff = handoff_builder or SchedulerHandoffBuilder()
        self.execute = run_executor or core_executor

    def run(
        self,
        request: OrchestratedRunRequest,
        output_dir: str | Path | None = None,
        on_event: ProgressCallback | None = None,
    ) -> OrchestratedRunReport:
        """Run ``request`` under its lock and job state; write the artifacts; never raise for expected errors."""
        started = datetime.now(UTC).isoformat()
        run_id = request.run_id or new_id(f"{safe_name(request.default_name())}_")
        key = request.effective_key()
        lock_info: dict[str, Any] = {"key": key, "path": str(self.locks.lock_path(key)), "acquired": False}
        preflight = self._preflight(request)
        if preflight is not None:
            outcome = _Outcome(
                "failed", preflight.exit_code, errors=[e.line for e in preflight.result.errors], report=preflight
            )
        else:
            attempt = self.locks.acquire(key, run_id)
            if attempt.acquired and attempt.handle is not None:
                with attempt.handle as handle:
                    outcome = self._run_locked(request, run_id, key, handle, on_event)
                lock_info.update(
                    acquired=True,
                    owner=handle.owner.to_dict(),
                    takeover=handle.takeover,
                    heartbeats=handle.heartbeats,
                    lost=handle.lost,
                )
            else:
                lock_info["holder"] = attempt.holder
                outcome = self._blocked_by_lock(request, run_id, key, attempt.holder)
        return self._finish(request, run_id, key, outcome, lock_info, started, output_dir)

    # ---- steps ---------------------------------------------------------------------------------
    def _preflight(self, request: OrchestratedRunRequest) -> RunReport | None:
        """Validate the manifest and the selector before any lock or state (exit 2 on failure)."""
        from dpone_core.api import validate
        from dpone_core.manifest.selectors import select_one

        try:
            loaded = validate(request.manifest_path, request.registry_paths)
            select_one(loaded.manifest, request.selector)
        except DponeError as exc:
            if not isinstance(exc, ManifestError):
                return None  # not a configuration problem: let the run report it
            return RunReport(
                passed=False, status="failed", manifest_path=request.manifest_path,
                result=RunResult(errors=[error_entry(exc, request.selector)]),
            )  # fmt: skip
        return None

    def _blocked_by_lock(
        self, request: OrchestratedRunRequest, run_id: str, key: str, holder: dict[str, Any] | None
    ) -> _Outcome:
        who = holder or {}
        blocker = Blocker(
            code=ALREADY_RUNNING,
            message=(
                f"lock '{key}' is held by pid {who.get('pid')} on {who.get('host')} (run {who.get('run_id')}, "
                f"heartbeat {who.get('heartbeat_at')}); inspect the scheduler before retrying"
            ),
        )
        state = self.states.load(run_id)
        if state is None:
            # Nobody else writes a run id that has no state yet, so recording the blocked start is safe.
            state = self.states.transition(None, "started", run_id=run_id, **self._meta(request, key))
            state = self.states.transition(state, "blocked", reason=blocker.message, blockers=[blocker])
        # An existing state belongs to whoever holds the lock; we must not write it without the lock.
        return _Outcome("blocked", 1, [blocker], state)

    def _run_locked(
        self,
        request: OrchestratedRunRequest,
        run_id: str,
        key: str,
        handle: LockHandle,
        on_event: ProgressCallback | None,
    ) -> _Outcome:
        state = self.states.load(run_id)
        policy = request.resume_policy
        if state is not None and state.status == "running":
            live = self._live_elsewhere(state, key)
            if live is not None:
                blocker = Blocker(code=ALREADY_RUNNING, message=live)
                return _Outcome("blocked", 1, [blocker], state)
            state = self.states.transition(
                state, "failed", reason="the previous attempt stopped without finishing (its lock was free or stale)"
            )
        if state is not None and state.status == "committed" and policy != "restart":
            message = (
                f"run id {run_id} was already committed; use a new run id, or --resume-policy restart "
                "for an approved repeat of an idempotent load"
            )
            blocker = Blocker(code=ALREADY_COMMITTED, message=message)
            return _Outcome("skipped", 0, [blocker], self.states.add_blocker(state, blocker.code, blocker.message))
        if state is not None and state.status in {"failed", "blocked"} and policy == "fail":
            message = (
                f"run id {run_id} is {state.status} from an earlier attempt; read {self.states.path(run_id)}, "
                "then re-run with --resume-policy resume once the load is known to be safe to repeat"
            )
            blocker = Blocker(code=RESUME_REQUIRED, message=message)
            return _Outcome("blocked", 1, [blocker], self.states.add_blocker(state, blocker.code, blocker.message))

        restart = policy == "restart" and state is not None
        if state is None:
            state = self.states.transition(None, "started", run_id=run_id, **self._meta(request, key))
        reason = "lock acquired" if state.status == "started" else f"resume policy {policy}"
        state = self.states.transition(
            state, "running", reason=reason, attempt=state.attempt + 1, lock=handle.owner.to_dict(),
            **self._meta(request, key),
        )  # fmt: skip
        try:
            report = self.execute(request, run_id, restart, on_event)
        except KeyboardInterrupt:
            # Outside the core's own handling (before the load started): the state must still end.
            entry = error_entry(InterruptedRun("interrupted by the user", process=request.selector), None)
            self.states.transition(state, "failed", reason=entry.line)
            return _Outcome("failed", EXIT_INTERRUPTED, [], self.states.load(run_id), errors=[entry.line])
        except Exception as exc:  # noqa: BLE001 - a pluggable executor's crash must still end the state
            entry = error_entry(exc, request.selector)
            self.states.transition(state, "failed", reason=entry.line)
            return _Outcome("failed", 1, [], self.states.load(run_id), errors=[entry.line])
        result = json.loads(report.to_json())
        if report.passed:
            note = "committed" if report.status == "succeeded" else f"run status {report.status}"
            state = self.states.transition(state, "committed", reason=note, run_result=result)
            return _Outcome("committed", 0, [], state, report)
        reason = "; ".join(e.line for e in report.result.errors) or f"run status {report.status}"
        state = self.states.transition(state, "failed", reason=reason, run_result=result)
        return _Outcome("failed", report.exit_code, [], state, report, [e.line for e in report.result.errors])

    def _live_elsewhere(self, state: JobState, key: str) -> str | None:
        """A message when ``state`` is running under another, still live, lock key."""
        other = state.concurrency_key
        if not other or other == key or not state.lock:
            return None
        holder = self.locks.inspect(other)
        if holder and holder.get("token") == state.lock.get("token") and self.locks.stale_reason(holder) is None:
            return (
                f"run id {state.run_id} is running under lock '{other}' (pid {holder.get('pid')} on "
                f"{holder.get('host')}); inspect the scheduler before retrying"
            )
        return None

    def _meta(self, request: OrchestratedRunRequest, key: str) -> dict[str, Any]:
        return {
            "concurrency_key": key,
            "manifest_path": request.manifest_path,
            "selector": request.selector,
            "resume_policy": request.resume_policy,
        }

    def _finish(
        self,
        request: OrchestratedRunRequest,
        run_id: str,
        key: str,
        outcome: _Outcome,
        lock_info: dict[str, Any],
        started: str,
        output_dir: str | Path | None,
    ) -> OrchestratedRunReport:
        out = Path(output_dir) if output_dir is not None else Path(".dpone/orchestration") / safe_name(run_id)
        json_path, md_path = artifact_paths(out)
        spec = HandoffSpec(
            manifest_path=request.manifest_path,
            selector=request.selector,
            concurrency_key=key,
            retry_attempts=request.retry_attempts,
            retry_backoff_seconds=request.retry_backoff_seconds,
            retry_backoff=request.retry_backoff,
            lock_dir=str(self.locks.lock_dir),
            lock_ttl_seconds=self.locks.ttl_seconds,
            state_dir=str(self.states.state_dir),
            registry_paths=request.registry_paths,
        )
        state = outcome.state
        report = OrchestratedRunReport(
            status=outcome.status,
            exit_code=outcome.exit_code,
            run_id=run_id,
            concurrency_key=key,
            resume_policy=request.resume_policy,
            manifest_path=request.manifest_path,
            selector=request.selector,
            blockers=outcome.blockers,
            lock=lock_info,
            job_state_path=str(self.states.path(run_id)) if state is not None else None,
            job_state=state.to_document() if state is not None else None,
            run_result=json.loads(outcome.report.to_json()) if outcome.report is not None else None,
            errors=outcome.errors,
            scheduler_handoff=self.handoff.build(spec).to_dict(),
            artifacts=[str(json_path), str(md_path)],
            started_at=started,
            finished_at=datetime.now(UTC).isoformat(),
        )
        write_json(json_path, json.loads(report.to_json()))
        md_path.write_text(report.to_markdown(), encoding="utf-8")
        return report


__all__ = ["OrchestratedRunReport", "OrchestratedRunRequest", "OrchestratedRunService", "core_executor"]
