"""``dpone ops recovery-plan``: what an interrupted run left behind, and what to do about each piece.

The plan reads, and changes nothing:

* **job states** (``<state-dir>/*.job_state.json``): a ``failed`` or ``blocked`` run, or one still
  marked ``running`` whose lock is free or stale (its process died), needs
  ``dpone orchestrate run --resume-policy resume`` once someone has checked a repeat is safe;
* **lock files** (``<lock-dir>/*.lock.json``): stale (the pid is gone on this host, or the heartbeat
  is older than the TTL) or live (never touched: check the scheduler);
* with a manifest, each process's **sink**: orphan staging, ClickHouse publishes journalled but not
  committed, and quarantine files of loads that never committed (see :mod:`.recovery_sinks`).

Each finding is a :class:`RecoveryAction`. ``safe`` ones are what dpone would do by itself on the
next run or lock acquisition, and ``apply_plan`` performs them: a stale lock is taken over and
released through the lock manager (the takeover is logged), staging is removed by the sink's own
``cleanup_orphans`` (which skips a live run's and, on ClickHouse, finishes a journalled publish),
and uncommitted quarantine files are removed where the sink guarantees a single writer (DuckDB).
Resuming a run, a live lock and quarantine files on a multi-writer sink stay for a person.
After applying, the plan is built again, so the report shows what is still left.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpone_core.errors import DponeError
from dpone_core.ops.artifacts import OpsReport, markdown_table
from dpone_core.orchestration._files import read_json
from dpone_core.orchestration.job_state import JobState
from dpone_core.orchestration.locks import LocalRunLockManager

KIND = "recovery_plan"
RESUMABLE = frozenset({"failed", "blocked"})
UNFINISHED = frozenset({"running", "started"})


@dataclass
class RecoveryAction:
    """One thing to do: what, on what, why, whether ``--apply --yes`` may do it, and the command."""

    action: str
    """``resume_run``, ``inspect_or_cleanup_lock``, ``drop_orphan_staging``, ``finish_publish``,
    ``remove_uncommitted_quarantine``, ``drop_committed_chunks``, ``finalize_chunks`` or ``inspect_sink``."""
    subject: str
    detail: str
    safe: bool
    command: str | None = None
    process: str | None = None
    items: list[str] = field(default_factory=list)
    outcome: str | None = None
    """Set once applied: what was done."""


@dataclass(frozen=True)
class RecoveryRequest:
    """Where to look: orchestration state and locks, and optionally a manifest's sinks."""

    manifest: str | None = None
    state_dir: str = ".dpone/orchestration-state"
    lock_dir: str = ".dpone/locks"
    selector: str | None = None
    registry_paths: Sequence[str | Path] = ()


def _same_file(a: str | None, b: str | None) -> bool:
    return bool(a and b) and Path(str(a)).resolve() == Path(str(b)).resolve()


def _resume_command(state: JobState, request: RecoveryRequest) -> str:
    parts = ["dpone", "orchestrate", "run", "--manifest", state.manifest_path or request.manifest or "MANIFEST"]
    parts += ["--selector", state.selector] if state.selector else []
    parts += ["--run-id", state.run_id, "--resume-policy", "resume"]
    parts += ["--concurrency-key", state.concurrency_key] if state.concurrency_key else []
    parts += ["--state-dir", request.state_dir, "--lock-dir", request.lock_dir]
    return shlex.join(parts)


def job_state_actions(request: RecoveryRequest, locks: LocalRunLockManager) -> list[RecoveryAction]:
    """A resume action per failed or blocked run, and per run marked running whose holder is gone."""
    actions = []
    folder = Path(request.state_dir)
    for path in sorted(folder.glob("*.job_state.json")) if folder.is_dir() else []:
        try:
            state = JobState.model_validate(read_json(path))
        except (ValueError, OSError) as exc:
            actions.append(RecoveryAction("inspect_job_state", str(path), f"unreadable: {exc}", False))
            continue
        if request.manifest and not _same_file(state.manifest_path, request.manifest):
            continue
        why = _needs_resume(state, locks)
        if why:
            actions.append(
                RecoveryAction("resume_run", state.run_id, why, False, _resume_command(state, request), state.selector)
            )
    return actions


def _needs_resume(state: JobState, locks: LocalRunLockManager) -> str | None:
    """Why ``state`` must be resumed, or None (committed, or still running under a live lock)."""
    if state.status in RESUMABLE:
        last = state.blockers[-1].message if state.blockers else "see its transitions and run_result"
        return f"job state {state.status} (attempt {state.attempt}): {last}"
    if state.status in UNFINISHED:
        record = locks.inspect(state.concurrency_key) if state.concurrency_key else None
        stale = locks.stale_reason(record, locks.lock_path(state.concurrency_key or "_")) if record else None
        if record is None or stale or record.get("run_id") != state.run_id:
            return f"job state still {state.status} but its run is gone ({stale or 'its lock is free'})"
    return None


def lock_actions(locks: LocalRunLockManager) -> list[RecoveryAction]:
    """One action per lock file: stale ones are safe to remove, live ones are for a person."""
    actions = []
    for path in sorted(locks.lock_dir.glob("*.lock.json")) if locks.lock_dir.is_dir() else []:
        try:
            record = read_json(path)
        except (ValueError, OSError):
            record = {"unreadable": True, "path": str(path)}
        if record is None:
            continue  # released while we listed
        reason = locks.stale_reason(record, path)
        who = f"pid {record.get('pid')} on {record.get('host')}, run {record.get('run_id')}"
        if reason:
            detail = f"stale: {reason} ({who}); removing it is what the next run would do"
        else:
            detail = (
                f"live: held by {who}, heartbeat {record.get('heartbeat_at')}; check the scheduler, never delete it"
            )
        actions.append(RecoveryAction("inspect_or_cleanup_lock", str(path), detail, bool(reason)))
    return actions


def sink_actions(request: RecoveryRequest) -> list[RecoveryAction]:
    """Orphan staging, unfinished publishes and uncommitted quarantine files of each selected process."""
    from dpone_core.api import load
    from dpone_core.manifest.selectors import select

    assert request.manifest is not None
    loaded = load(request.manifest, request.registry_paths)
    actions: list[RecoveryAction] = []
    for process in select(loaded.manifest, request.selector):
        actions += _process_actions(loaded, process)
    return actions


def _process_actions(loaded: Any, process: Any) -> list[RecoveryAction]:
    from dpone_core.connectors.endpoints import open_sink

    try:
        sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    except DponeError as exc:
        detail = f"cannot open the sink read-only (a run may be writing it): {exc.info().one_line()}"
        return [RecoveryAction("inspect_sink", process.name, detail, False, process=process.name)]
    try:
        return _leftover_actions(loaded, process, sink)
    finally:
        sink.close()


def _quarantine_folder(loaded: Any, process: Any) -> Path:
    from dpone_core.manifest.references import resolve_setting

    folder = Path(resolve_setting(process.quarantine.dir, "quarantine.dir", loaded.base_dir)).expanduser()
    return (folder if folder.is_absolute() else loaded.base_dir / folder) / process.name


def _leftover_actions(loaded: Any, process: Any, sink: Any) -> list[RecoveryAction]:
    from dpone_core.connections.registry import connector
    from dpone_core.ops.recovery_sinks import sink_leftovers, uncommitted_quarantine
    from dpone_core.runtime.preparation import owner_of

    name, where = process.name, sink.describe()
    found = sink_leftovers(sink, name)
    actions = []
    for load_id in found.pending_publishes:
        detail = f"load {load_id} was journalled publishing on {where} and never committed; cleanup_orphans finishes it"
        actions.append(RecoveryAction("finish_publish", name, detail, True, process=name, items=[load_id]))
    if found.staging:
        detail = f"{len(found.staging)} staging leftovers of killed runs on {where}"
        actions.append(RecoveryAction("drop_orphan_staging", name, detail, True, process=name, items=found.staging))
    files = uncommitted_quarantine(_quarantine_folder(loaded, process), sink, name, owner_of(sink))
    if files:
        single = connector(loaded.manifest.connections[process.sink.connection].type).capabilities.single_writer
        detail = f"{len(files)} quarantine files of loads that never committed"
        if not single:
            detail += "; this sink allows concurrent runs: remove them once no run of the process is going"
        items = [str(f) for f in files]
        actions.append(RecoveryAction("remove_uncommitted_quarantine", name, detail, single, process=name, items=items))
    return actions + _chunk_actions(loaded, process, sink)


def _chunk_actions(loaded: Any, process: Any, sink: Any) -> list[RecoveryAction]:
    """Parked chunks: a committed run's are left-overs (safe to drop); another run's await its finalize."""
    from dpone_core.manifest.references import resolve_setting
    from dpone_core.ops.recovery_sinks import parked_runs

    if process.partitions is None or not process.partitions.chunk_dir:
        return []
    folder = Path(resolve_setting(process.partitions.chunk_dir, "partitions.chunk_dir", loaded.base_dir)).expanduser()
    root = (folder if folder.is_absolute() else loaded.base_dir / folder) / process.name
    actions = []
    for run in parked_runs(root, sink, process.name):
        if run.committed:
            detail = f"run {run.run_id} committed; its {run.chunks} parked chunks were never removed"
            actions.append(
                RecoveryAction("drop_committed_chunks", process.name, detail, True, process=process.name,
                               items=[str(run.folder)])
            )  # fmt: skip
            continue
        manifest = shlex.quote(str(loaded.path))
        command = f"dpone run {manifest} -s {process.name} --phase finalize --run-id {shlex.quote(run.run_id)}"
        detail = (
            f"run {run.run_id} parked {run.chunks} chunks and never committed: finalize it once every partition "
            f"is extracted, or delete {run.folder} to give the run up"
        )
        actions.append(
            RecoveryAction("finalize_chunks", process.name, detail, False, command, process.name, [str(run.folder)])
        )
    return actions


def build_plan(request: RecoveryRequest) -> OpsReport:
    """The recovery plan (nothing changed): red while any action is left."""
    locks = LocalRunLockManager(request.lock_dir)
    actions = [*job_state_actions(request, locks), *lock_actions(locks)]
    if request.manifest:
        actions += sink_actions(request)
    payload = {
        "manifest": request.manifest,
        "state_dir": request.state_dir,
        "lock_dir": request.lock_dir,
        "actions": [asdict(a) for a in actions],
        "applied": [],
    }
    return OpsReport(KIND, payload, [_blocker(a) for a in actions])


def _blocker(action: RecoveryAction) -> str:
    return f"{action.action} {action.subject}: {action.detail}"


def apply_plan(request: RecoveryRequest) -> OpsReport:
    """Perform the plan's safe actions, then plan again; the report lists what was applied."""
    applied = []
    for raw in build_plan(request).payload["actions"]:
        action = RecoveryAction(**raw)
        if action.safe:
            action.outcome = _perform(action, request)
            applied.append(asdict(action))
    report = build_plan(request)
    report.payload["applied"] = applied
    return report


def _perform(action: RecoveryAction, request: RecoveryRequest) -> str:
    if action.action == "inspect_or_cleanup_lock":
        return _release_stale_lock(Path(action.subject), request)
    if action.action == "drop_committed_chunks":
        return _drop_chunks(action)
    return _clean_process(action, request)


def _release_stale_lock(path: Path, request: RecoveryRequest) -> str:
    """Take the stale lock over (logged in ``<key>.takeovers.jsonl``) and release it at once."""
    record = read_json(path) or {}
    key = str(record.get("key") or path.name.removesuffix(".lock.json"))
    attempt = LocalRunLockManager(request.lock_dir).acquire(key, run_id="dpone-ops-recovery-plan")
    if not attempt.acquired or attempt.handle is None:
        return f"kept: the lock is live again (pid {(attempt.holder or {}).get('pid')})"
    attempt.handle.release()
    return "removed (takeover logged)"


def _drop_chunks(action: RecoveryAction) -> str:
    """Delete a committed run's parked chunk folders."""
    for folder in action.items:
        shutil.rmtree(folder, ignore_errors=True)
    return f"removed {', '.join(action.items)}"


def _clean_process(action: RecoveryAction, request: RecoveryRequest) -> str:
    """The sink's own clean-up (opened for writing, as a run opens it), or removal of quarantine files."""
    from dpone_core.api import load
    from dpone_core.connectors.endpoints import open_sink
    from dpone_core.gates.quarantine import discard_uncommitted
    from dpone_core.manifest.selectors import select_one
    from dpone_core.runtime.preparation import owner_of

    assert request.manifest is not None and action.process is not None
    loaded = load(request.manifest, request.registry_paths)
    process = select_one(loaded.manifest, action.process)
    try:
        sink = open_sink(loaded.manifest, process, loaded.base_dir)
    except DponeError as exc:
        return f"skipped: {exc.info().one_line()}"
    try:
        if action.action == "remove_uncommitted_quarantine":
            folder = _quarantine_folder(loaded, process)
            removed = discard_uncommitted(folder, sink, process.name, owner_of(sink), single_writer=True)
            return f"removed {', '.join(removed) or 'nothing'}"
        return f"cleanup_orphans: {', '.join(sink.cleanup_orphans(process.name)) or 'nothing left'}"
    except DponeError as exc:
        return f"failed: {exc.info().one_line()}"
    finally:
        sink.close()


def to_markdown(report: OpsReport) -> str:
    """The plan's Markdown twin: actions, then what was applied."""
    payload = report.payload
    rows = [
        (a["action"], a["subject"], "yes" if a["safe"] else "no", a["command"] or a["detail"])
        for a in payload["actions"]
    ]
    lines = [
        f"# Recovery plan: {'nothing to recover' if report.passed else f'{len(rows)} actions'}",
        "",
        f"State `{payload['state_dir']}`, locks `{payload['lock_dir']}`, manifest `{payload['manifest'] or '-'}`.",
        "",
        *markdown_table(("action", "subject", "safe to apply", "command or detail"), rows),
    ]
    if payload["applied"]:
        lines += [
            "",
            "## Applied",
            "",
            *[f"- {a['action']} {a['subject']}: {a['outcome']}" for a in payload["applied"]],
        ]
    lines += ["", "Re-run the plan after every manual action."]
    return "\n".join(lines) + "\n"


def text_lines(report: OpsReport) -> list[str]:
    """One line per action (``safe`` ones are what ``--apply --yes`` does), then what was applied."""
    lines = [f"applied {a['action']} {a['subject']}: {a['outcome']}" for a in report.payload["applied"]]
    for a in report.payload["actions"]:
        lines.append(f"{'safe  ' if a['safe'] else 'manual'} {a['action']} {a['subject']}: {a['detail']}")
        lines += [f"         {item}" for item in a["items"]]
        lines += [f"         run: {a['command']}"] if a["command"] else []
    return lines or ["nothing to recover"]
