"""State and audit records as files: the file implementation of the state and audit ports.

Layout under a folder (``<root>/_dpone`` for a Parquet directory sink)::

    state/<process>.json     committed state of each process
    loads/<load_id>.json     one audit record per committed load

Records are written durably and atomically (:mod:`dpone_core.durable`). Writing them is not the
commit: a sink without transactions commits first (a journal, a conditional put of a commit
object) and writes the records from what it committed, idempotently, so a crash in between is
rolled forward by the next run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpone_core.durable import write_json


class FileBookkeeping:
    """State store and audit log in a folder of JSON files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state of ``process``."""
        path = self.folder / "state" / f"{process}.json"
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit records, newest first, optionally of one process and after ``since``."""
        folder = self.folder / "loads"
        records = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            record = json.loads(path.read_text(encoding="utf-8"))
            record["finished_at"] = datetime.fromisoformat(record["finished_at"])
            if process is not None and record["process"] != process:
                continue
            if since is not None and record["finished_at"] <= since:
                continue
            records.append(record)
        return sorted(records, key=lambda r: r["finished_at"], reverse=True)

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of a committed load of ``process`` with ``run_id``."""
        return next((r for r in self.loads(process) if r["run_id"] == run_id), None)

    def write(self, process: str, load_id: str, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Write a committed load's audit record and (when it moves) the process state; idempotent."""
        if state is not None:
            write_json(self.folder / "state" / f"{process}.json", state)
        write_json(self.folder / "loads" / f"{load_id}.json", audit)

    @staticmethod
    def stamped(audit: dict[str, Any], state: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The records as committed now: finish and update times set, the start time as text."""
        now = datetime.now(UTC).isoformat()
        record = {**audit, "finished_at": now, "started_at": str(audit["started_at"])}
        return record, None if state is None else {**state, "updated_at": now}
