"""Emit a run's OpenLineage events through ``openlineage-python``'s own client and transports.

Configuration is the client's: ``OPENLINEAGE_URL`` (HTTP), ``OPENLINEAGE_CONFIG`` or an
``openlineage.yml`` (any transport: http, kafka, file, console, composite), or
``OPENLINEAGE__TRANSPORT__*`` variables; ``OPENLINEAGE_DISABLED=true`` turns it off. dpone checks for
any of these before importing the client, so a run without lineage pays nothing. A transport error
never fails a load: it becomes a warning on the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dpone_core.lineage.datasets import ProcessDatasets
from dpone_core.manifest.process import Process
from dpone_core.redaction import redact
from dpone_core.runtime.report import RunReport

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger(__name__)


def lineage_configured() -> bool:
    """True when the environment configures an OpenLineage transport (and does not disable it)."""
    if os.getenv("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.getenv("OPENLINEAGE_URL") or os.getenv("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__TRANSPORT") for key in os.environ):
        return True
    candidates = (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml")
    return any(path.is_file() for path in candidates)


@dataclass
class LineageEmitter:
    """Sends the START and final events of one run; remembers the first transport error."""

    client: OpenLineageClient
    namespace: str
    warning: str | None = None

    @classmethod
    def from_environment(cls, namespace: str | None = None) -> LineageEmitter | None:
        """An emitter when OpenLineage is configured and the ``lineage`` extra is installed, else None."""
        if not lineage_configured():
            return None
        try:
            from openlineage.client import OpenLineageClient
        except ImportError:
            log.warning("OpenLineage is configured but not installed: pip install 'dpone[lineage]'")
            return None
        chosen = namespace or os.getenv("OPENLINEAGE_NAMESPACE") or "dpone"
        return cls(OpenLineageClient(), chosen)

    def start(self, process: Process, datasets: ProcessDatasets, run_id: str) -> None:
        """Emit START (dataset names only: nothing is known about the run yet)."""
        from openlineage.client.event_v2 import RunState

        from dpone_core.lineage.events import run_event

        self._emit(lambda: run_event(RunState.START, process, datasets, run_id, namespace=self.namespace))

    def finish(self, process: Process, datasets: ProcessDatasets, report: RunReport) -> None:
        """Emit COMPLETE, FAIL or ABORT with the facets of what the run did."""
        from dpone_core.lineage.events import final_state, run_event

        run_id = report.run_id or "unknown"
        self._emit(
            lambda: run_event(final_state(report), process, datasets, run_id, report=report, namespace=self.namespace)
        )
        self.client.close(timeout=5.0)

    def _emit(self, build: Callable[[], RunEvent]) -> None:
        try:
            self.client.emit(build())
        except Exception as exc:  # noqa: BLE001 - lineage must never fail a load
            text = redact(f"OpenLineage: event not sent ({type(exc).__name__}: {exc})".splitlines()[0])
            log.warning(text)
            self.warning = self.warning or text
