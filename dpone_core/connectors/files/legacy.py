"""Parquet folders written before commit objects existed, read as version 0 of their table.

Those folders held committed files directly in ``<schema>/<table>/*.parquet``, and state and
audit records under ``<root>/_dpone/state`` and ``<root>/_dpone/loads``. Until the first load
creates a commit object, the table's files, schema, states and run ids come from there; that
load's version names the old files as live (for the strategies that keep them), so cursors and
rows carry over.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dpone_core.connectors.object_store.table_log import DataFile, TableVersion, schema_text
from dpone_core.state.file_bookkeeping import FileBookkeeping


class LegacyFolder:
    """The pre-commit-object layout of one table under ``root``."""

    def __init__(self, root: Path, folder: str) -> None:
        self.root, self.folder = root, folder
        self.records = FileBookkeeping(root / "_dpone")

    @cached_property
    def version(self) -> TableVersion | None:
        """Version 0, or None when nothing was written in the old layout."""
        table_dir = self.root / self.folder
        paths = sorted(table_dir.glob("*.parquet")) if table_dir.is_dir() else []
        state_dir = self.root / "_dpone" / "state"
        states = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(state_dir.glob("*.json"))}
        if not paths:
            return None
        files = tuple(
            DataFile(str(p.relative_to(self.root)), pq.ParquetFile(p).metadata.num_rows, p.stat().st_size, "")
            for p in paths
        )
        runs: dict[str, list[list[Any]]] = {}
        for record in reversed(self.records.loads()):
            runs.setdefault(record["process"], []).append([record["run_id"], record["load_id"], 0])
        return TableVersion(0, files, schema_text(pq.read_schema(paths[-1])), states, runs)

    def loads(self, process: str | None, since: datetime | None) -> list[dict[str, Any]]:
        """The old audit records, newest first."""
        return self.records.loads(process, since) if self.version is not None else []

    def audit(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The old audit record of ``run_id``."""
        return self.records.committed_load(process, run_id) if self.version is not None else None
