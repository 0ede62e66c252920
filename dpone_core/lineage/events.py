"""OpenLineage run events for a dpone run: START, then COMPLETE or FAIL (ABORT when interrupted).

The event's ``runId`` is a UUID derived from dpone's run id (UUID v5), so the START and the final
event of one run, a replay of the same run id, the run registry and catalog publication all name
the same OpenLineage run. The job is ``<namespace>/<process name>``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from dpone_core.lineage.datasets import ProcessDatasets
from dpone_core.lineage.facets import PRODUCER, lineage_facets
from dpone_core.manifest.process import Process
from dpone_core.runtime.report import RunReport

DEFAULT_NAMESPACE = "dpone"
_RUN_ID_NAMESPACE = uuid.UUID("6f1d3c1e-4a52-5b0e-9c7d-2f8a1b3c4d5e")


def openlineage_run_id(dpone_run_id: str) -> str:
    """The OpenLineage run UUID of a dpone run id (stable: the same id always gives the same UUID)."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, dpone_run_id))


def final_state(report: RunReport) -> RunState:
    """COMPLETE for a run that passed (or was skipped as already committed), ABORT when interrupted, else FAIL."""
    if report.passed:
        return RunState.COMPLETE
    return RunState.ABORT if report.status == "interrupted" else RunState.FAIL


def run_event(
    state: RunState,
    process: Process,
    datasets: ProcessDatasets,
    run_id: str,
    *,
    report: RunReport | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    event_time: str | None = None,
) -> RunEvent:
    """One event of the run ``run_id`` of ``process``; with a report, the facets of what it did."""
    facets = lineage_facets(process, datasets, report, run_id)
    when = event_time or (report.finished_at if report is not None and report.finished_at else None)
    return RunEvent(
        eventType=state,
        eventTime=when or datetime.now(UTC).isoformat(),
        run=Run(runId=openlineage_run_id(run_id), facets=facets.run),
        job=Job(namespace=namespace, name=process.name),
        inputs=facets.inputs,
        outputs=facets.outputs,
        producer=PRODUCER,
    )
