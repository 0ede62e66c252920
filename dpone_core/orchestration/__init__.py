"""Orchestration outside a scheduler: local locks, durable job state, resume policy, handoff, dataflow runner.

Names are imported lazily so that ``import dpone_core.orchestration.job_state`` (a cron health check,
a test writer) does not pay for the runtime's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "HandoffSpec": "handoff",
    "SchedulerHandoff": "handoff",
    "SchedulerHandoffBuilder": "handoff",
    "JobState": "job_state",
    "LocalJobStateStore": "job_state",
    "LocalRunLockManager": "locks",
    "LockHandle": "locks",
    "OrchestratedRunReport": "run_report",
    "OrchestratedRunRequest": "service",
    "OrchestratedRunService": "service",
}

if TYPE_CHECKING:
    from dpone_core.orchestration.handoff import HandoffSpec, SchedulerHandoff, SchedulerHandoffBuilder
    from dpone_core.orchestration.job_state import JobState, LocalJobStateStore
    from dpone_core.orchestration.locks import LocalRunLockManager, LockHandle
    from dpone_core.orchestration.run_report import OrchestratedRunReport
    from dpone_core.orchestration.service import OrchestratedRunRequest, OrchestratedRunService


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dpone_core.orchestration' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dpone_core.orchestration.{module}"), name)


__all__ = [
    "HandoffSpec",
    "JobState",
    "LocalJobStateStore",
    "LocalRunLockManager",
    "LockHandle",
    "OrchestratedRunReport",
    "OrchestratedRunRequest",
    "OrchestratedRunService",
    "SchedulerHandoff",
    "SchedulerHandoffBuilder",
]
