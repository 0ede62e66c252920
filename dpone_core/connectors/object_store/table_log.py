"""A table's versions as commit objects: the one atomic step of a store without transactions.

Each version is one small JSON object under ``<table>/_dpone/commits/``, created with "only if
absent" (S3 ``If-None-Match: *``, a hard link locally). Its body is the whole table at that
version: the live data files (with rows, size and sha256), the schema, every process's state and
the audit record of the load that made it. So data, audit and state commit together, and two
writers that start from the same version cannot both commit: the second create fails.

Keys count down (``10**20 - seq``), so the newest version is the first key a listing returns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from dpone_core.connectors.object_store.store import TableStore

COMMITS = "_dpone/commits/"
_TOP = 10**20
RUNS_KEPT = 1000
"""Run ids remembered per process in every version, for the committed-run_id no-op."""


@dataclass(frozen=True)
class DataFile:
    """One immutable Parquet file of a version."""

    key: str
    """Store key (relative to the connection's root)."""
    rows: int
    size: int
    sha256: str
    partition: str | None = None
    """The ``partition_replace`` slice of its rows (all rows of a file share one), as text."""


@dataclass(frozen=True)
class TableVersion:
    """The table as one commit left it."""

    seq: int
    files: tuple[DataFile, ...]
    schema: str | None
    """The Arrow schema of the data files, IPC-serialised and base64-encoded (None: no load yet)."""
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, list[list[Any]]] = field(default_factory=dict)
    """Per process: ``[run_id, load_id, seq]`` of its latest committed loads, oldest first."""
    audit: dict[str, Any] | None = None
    """The audit record of the load that made this version."""

    @property
    def rows(self) -> int:
        """Rows in the live files."""
        return sum(f.rows for f in self.files)

    def arrow_schema(self) -> pa.Schema | None:
        """The data files' schema."""
        if self.schema is None:
            return None
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(self.schema)))

    def run(self, process: str, run_id: str) -> int | None:
        """The seq of the version ``run_id`` of ``process`` committed, if it is still remembered."""
        for committed_run, _, seq in reversed(self.runs.get(process, [])):
            if committed_run == run_id:
                return int(seq)
        return None

    def to_json(self) -> bytes:
        """The commit object's body."""
        body = asdict(self)
        body["format"] = "dpone-table/1"
        return json.dumps(body, sort_keys=True, default=str).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> TableVersion:
        """Parse a commit object's body."""
        data = json.loads(body)
        files = tuple(DataFile(**f) for f in data["files"])
        return cls(data["seq"], files, data["schema"], data["states"], data["runs"], data["audit"])


def schema_text(schema: pa.Schema) -> str:
    """``schema`` as stored in a version."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


class TableLog:
    """The versions of the table whose folder (store key prefix) is ``table``."""

    def __init__(self, store: TableStore, table: str) -> None:
        self.store, self.table = store, table
        self.folder = f"{table}{COMMITS}"

    def key(self, seq: int) -> str:
        """The commit object of version ``seq``."""
        return f"{self.folder}{_TOP - seq:020d}.json"

    def head(self) -> TableVersion | None:
        """The newest version, or None before the first commit."""
        for info in self.store.listing(self.folder):
            body = self.store.read(info.key)
            if body is not None:
                return TableVersion.from_json(body)
        return None

    def version(self, seq: int) -> TableVersion | None:
        """Version ``seq``, if its commit object exists."""
        body = self.store.read(self.key(seq))
        return TableVersion.from_json(body) if body is not None else None

    def history(self) -> Iterator[TableVersion]:
        """Every version, newest first."""
        for info in self.store.listing(self.folder):
            body = self.store.read(info.key)
            if body is not None:
                yield TableVersion.from_json(body)

    def commit(self, version: TableVersion) -> bool:
        """Create ``version``'s commit object; False when another writer committed that seq first."""
        return self.store.create(self.key(version.seq), version.to_json())
