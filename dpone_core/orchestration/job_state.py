"""Durable job state: one plain JSON file per run id, changed only through allowed transitions.

``<state_dir>/<run_id>.job_state.json`` is what cron jobs, CI, Airflow tasks and people read to see
where a logical run stands. Lifecycle::

    (none) -> started -> running -> committed
                 |          \\-> failed -> running (resume / restart)
                 \\-> blocked -> running (lock freed / stale lock replaced)
    committed -> running (explicit restart only)

Every write goes through :func:`dpone_core.durable.write_json` (temp file, fsync, rename, folder
fsync), so a crash while writing leaves the previous document or the new one, never half of one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dpone_core.durable import write_json
from dpone_core.orchestration._files import read_json, safe_name

JobStatus = Literal["started", "running", "committed", "failed", "blocked"]

ALLOWED_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"started"}),
    "started": frozenset({"running", "blocked"}),
    "running": frozenset({"committed", "failed"}),
    "failed": frozenset({"running"}),
    "blocked": frozenset({"running"}),
    "committed": frozenset({"running"}),
}
RESUMABLE: frozenset[str] = frozenset({"failed", "blocked"})


class InvalidTransition(ValueError):
    """A state change the lifecycle does not allow (a bug in the caller, not a user error)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Transition(BaseModel):
    """One recorded status change."""

    model_config = ConfigDict(frozen=True)

    from_status: str | None = Field(alias="from")
    to_status: str = Field(alias="to")
    at: str
    reason: str = ""
    attempt: int = 0


class Blocker(BaseModel):
    """Why orchestration refused to execute, with the time it did so."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    at: str = Field(default_factory=_now)


class JobState(BaseModel):
    """The document stored per run id."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: Literal[1] = 1
    run_id: str
    status: JobStatus
    attempt: int = 0
    concurrency_key: str | None = None
    manifest_path: str | None = None
    selector: str | None = None
    resume_policy: str | None = None
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    transitions: list[Transition] = Field(default_factory=list)
    blockers: list[Blocker] = Field(default_factory=list)
    lock: dict[str, Any] | None = None
    run_result: dict[str, Any] | None = None

    @property
    def resumable(self) -> bool:
        """Failed and blocked runs may be resumed after review."""
        return self.status in RESUMABLE

    def to_document(self) -> dict[str, Any]:
        """The JSON document written to disk."""
        return self.model_dump(mode="json", by_alias=True)


class LocalJobStateStore:
    """Reads and writes ``<state_dir>/<run_id>.job_state.json``.

    >>> store = LocalJobStateStore(".dpone/orchestration-state")  # doctest: +SKIP
    >>> state = store.transition(None, "started", run_id="orders_2026_06_05")  # doctest: +SKIP
    >>> state = store.transition(state, "running", attempt=1)  # doctest: +SKIP
    >>> store.load("orders_2026_06_05").status  # doctest: +SKIP
    'running'
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)

    def path(self, run_id: str) -> Path:
        """Where the state of ``run_id`` lives."""
        return self.state_dir / f"{safe_name(run_id)}.job_state.json"

    def load(self, run_id: str) -> JobState | None:
        """The stored state of ``run_id``, or None when the run id is new."""
        document = read_json(self.path(run_id))
        return None if document is None else JobState.model_validate(document)

    def save(self, state: JobState) -> JobState:
        """Write ``state`` atomically and return it."""
        write_json(self.path(state.run_id), state.to_document())
        return state

    def transition(
        self, state: JobState | None, to: JobStatus, *, reason: str = "", run_id: str | None = None, **updates: Any
    ) -> JobState:
        """Move ``state`` (None for a new run id) to status ``to``, record it, and persist it.

        Raises :class:`InvalidTransition` for a change the lifecycle does not allow.
        """
        current = state.status if state is not None else None
        if to not in ALLOWED_TRANSITIONS[current]:
            raise InvalidTransition(f"job state cannot go from {current or 'nothing'} to {to}")
        now = _now()
        if state is None:
            if run_id is None:
                raise ValueError("a new job state needs a run_id")
            state = JobState(run_id=run_id, status=to, created_at=now, updated_at=now)
        attempt = int(updates.get("attempt", state.attempt))
        entry = Transition.model_validate({"from": current, "to": to, "at": now, "reason": reason, "attempt": attempt})
        new = state.model_copy(
            update={**updates, "status": to, "updated_at": now, "transitions": [*state.transitions, entry]}
        )
        return self.save(new)

    def add_blocker(self, state: JobState, code: str, message: str) -> JobState:
        """Record a blocker without changing the status (e.g. a failed run that needs review)."""
        blocker = Blocker(code=code, message=message)
        return self.save(state.model_copy(update={"blockers": [*state.blockers, blocker], "updated_at": _now()}))
