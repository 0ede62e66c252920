"""DponeLoadTrigger: wait asynchronously for a committed load in ``__dpone__loads`` (deferrable sensor)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from dpone_core.errors import DponeError
from dpone_provider.hooks.dpone import DponeHook, dumps_safe

LOAD_FIELDS = (
    "load_id",
    "run_id",
    "process",
    "status",
    "target_table",
    "rows_extracted",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_quarantined",
    "partition_key",
    "started_at",
    "finished_at",
)
"""Columns of a ``__dpone__loads`` row a sensor hands downstream through XCom."""


def parse_since(value: Any) -> datetime | None:
    """A rendered ``since`` as an aware datetime; empty or ``None`` (manual runs) means no lower bound.

    >>> parse_since("2026-11-23T00:00:00+00:00").isoformat()
    '2026-11-23T00:00:00+00:00'
    >>> parse_since("None") is None
    True
    """
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if not text or text == "None":
            return None
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def newest_load(
    manifest: str,
    selector: str,
    since: datetime | None,
    registry_paths: Sequence[str] = (),
    dpone_conn_id: str | None = None,
) -> dict[str, Any] | None:
    """The newest committed load of a process finished after ``since`` (XCom-safe dict), or None.

    A sink busy with another writer (a retryable dpone error, e.g. a DuckDB file lock) counts as
    "not yet"; any other error propagates.
    """
    from dpone_core.errors import DponeError

    try:
        rows = DponeHook(dpone_conn_id, registry_paths).committed_loads(manifest, selector, since)
    except DponeError as exc:
        if exc.retryable:
            return None
        raise
    if not rows:
        return None
    row: dict[str, Any] = dumps_safe({k: rows[0].get(k) for k in LOAD_FIELDS})
    return row


class DponeLoadTrigger(BaseTrigger):
    """Polls ``__dpone__loads`` until a process has a committed load newer than ``since``.

    Fires one event: ``{"status": "success", "load": {...}}``, ``{"status": "timeout", ...}`` once
    ``timeout_at`` passes, or ``{"status": "error", "message": ...}`` for a broken manifest or sink.
    """

    def __init__(
        self,
        *,
        manifest: str,
        selector: str,
        since: str | None = None,
        registry_paths: Sequence[str] = (),
        dpone_conn_id: str | None = None,
        poll_interval: float = 60.0,
        timeout_at: str | None = None,
    ) -> None:
        super().__init__()
        self.manifest = manifest
        self.selector = selector
        self.since = since
        self.registry_paths = list(registry_paths)
        self.dpone_conn_id = dpone_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout_at = timeout_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and JSON-able kwargs that rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "manifest": self.manifest,
                "selector": self.selector,
                "since": self.since,
                "registry_paths": list(self.registry_paths),
                "dpone_conn_id": self.dpone_conn_id,
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll (in a worker thread: dpone's sinks are synchronous) until a load, the deadline or an error."""
        since = parse_since(self.since)
        deadline = parse_since(self.timeout_at)
        while True:
            try:
                load = await asyncio.to_thread(
                    newest_load, self.manifest, self.selector, since, self.registry_paths, self.dpone_conn_id
                )
            except DponeError as exc:
                if not exc.retryable:
                    yield TriggerEvent({"status": "error", "message": exc.info().one_line()})
                    return
                # A load is writing the target right now (e.g. DuckDB's file lock): check again later.
                self.log.info("target busy (%s); checking again", exc.code)
                load = None
            except Exception as exc:  # noqa: BLE001 - reported to the task as an event
                yield TriggerEvent(
                    {"status": "error", "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
                )
                return
            if load is not None:
                yield TriggerEvent({"status": "success", "load": load})
                return
            if deadline is not None and datetime.now(UTC) >= deadline:
                yield TriggerEvent(
                    {
                        "status": "timeout",
                        "message": (
                            f"no committed load of '{self.selector}' finished after {self.since} by {self.timeout_at}"
                        ),
                    }
                )
                return
            self.log.info(
                "no committed load of %s after %s yet; next check in %ss", self.selector, self.since, self.poll_interval
            )
            await asyncio.sleep(self.poll_interval)
