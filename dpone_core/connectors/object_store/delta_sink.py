"""A Delta Lake table on a folder or S3 (delta-rs), with dpone's state and audit in the Delta commit.

Rows are staged as local Arrow IPC files (the per-load key checks run there), then one delta-rs
operation writes them at the end of the finalize: an overwrite (``full_refresh``), an append
(``append``, ``incremental``) or a merge on the primary key (``merge``). That operation's commit
carries dpone's records as commit metadata (``dpone.process``, ``dpone.run_id``,
``dpone.load_id``, ``dpone.state``, ``dpone.audit``) and an application transaction
``dpone:<process>`` whose version counts the process's loads, so the Delta log itself is the state
store: a load commits its rows and its state in one Delta version or not at all, and a writer
that raced it fails Delta's conflict check instead of applying twice. Any Delta reader (DuckDB's
``delta_scan``, Spark, Athena) reads the table.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from dpone_core.connectors.object_store.delta_commit import DeltaCommit
from dpone_core.connectors.object_store.local import LocalStore, ScratchStore
from dpone_core.connectors.object_store.sql_access import dataset_access
from dpone_core.connectors.object_store.staged_formats import ARROW
from dpone_core.connectors.object_store.table_files import (
    FileWriter,
    StagedFiles,
    in_file_order,
    later_repeats,
    positions,
    without_rows,
)
from dpone_core.errors import TerminalError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.model import SEQ_COLUMN, StagedLoad, TableRef, TargetColumn, TargetSchema
from dpone_core.spi.ports import Sink, SinkBase, SqlAccess

HISTORY_SCANNED = 1000
"""Delta versions read (newest first) to find a process's state or a committed run id."""
_PREFIX = "dpone-delta-"


class DeltaTableSink(SinkBase):
    """The Delta table at ``uri`` (``storage_options`` for delta-rs), named ``table`` in the manifest."""

    def __init__(self, uri: str, storage_options: dict[str, str], table: str, lineage: tuple[str, str]) -> None:
        super().__init__()
        schema, name = split_table_name(table)
        self.table = TableRef(schema, name)
        self.uri, self.storage_options, self._lineage = uri, storage_options, lineage
        self._staged: dict[str, tuple[LocalStore, StagedFiles]] = {}
        self._table: Any = None
        self._opened = False
        """Whether ``_table`` holds this run's view of the table (None: there was no table)."""
        self._finalizing: str | None = None

    def describe(self) -> str:
        """``delta:<uri>``."""
        return f"delta:{self.uri}"

    def lineage_name(self) -> tuple[str, str]:
        """The store's namespace and the table folder."""
        return self._lineage

    def delta(self) -> Any:
        """The ``deltalake.DeltaTable`` as this run first saw it, or None before the first load.

        The version is pinned for the run: the state it read and the write it commits start from
        the same version, so a run of the same process that committed in between (its application
        transaction) fails this commit in delta-rs's conflict check instead of being written over.
        A missing table is remembered as well: each look for it lists the store, and a first load
        looked seven times (0.15 s of a 1M-row load on moto).
        """
        if not self._opened:
            from deltalake import DeltaTable
            from deltalake.exceptions import TableNotFoundError

            try:
                self._table = DeltaTable(self.uri, storage_options=self.storage_options)
            except TableNotFoundError:
                self._table = None
            except OSError as exc:
                raise TerminalError(f"cannot open the delta table {self.uri}: {exc}", step="connect") from None
            self._opened = True
        return self._table

    def forget_version(self) -> None:
        """Read the newest version next time (after this run's commit, or a lost race)."""
        self._table, self._opened = None, False

    # ---- catalog, state, audit -------------------------------------------------------------------
    def target_schema(self) -> TargetSchema | None:
        """The Delta table's schema, or None before the first load."""
        table = self.delta()
        if table is None:
            return None
        schema = pa.schema(table.schema())
        return TargetSchema(tuple(TargetColumn(f.name, f.type, f.nullable) for f in schema))

    def committed_files(self) -> list[str]:
        """URIs of the current version's data files (a Delta reader should read the log instead)."""
        table = self.delta()
        return list(table.file_uris()) if table is not None else []

    def row_count(self) -> int | None:
        """Rows of the current version, or None before the first load.

        From the log's per-file record counts (delta-rs writes them) when every file has one and no
        deletion vector can hide rows; else counted from the data files' footers, a read of each.
        """
        table = self.delta()
        if table is None:
            return None
        records = pa.table(table.get_add_actions(flatten=False)).column("num_records")
        if records.null_count == 0 and "deletionVectors" not in (table.protocol().reader_features or []):
            return int(pc.sum(records).as_py() or 0)
        return int(table.to_pyarrow_dataset().count_rows())

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """Delta evolves its schema in the write itself: no DDL."""
        return []

    def _commits(self, process: str | None) -> Iterator[dict[str, Any]]:
        """dpone's commit metadata, newest first (of ``process`` when given)."""
        table = self.delta()
        for entry in table.history(HISTORY_SCANNED) if table is not None else []:
            if "dpone.load_id" in entry and (process is None or entry.get("dpone.process") == process):
                yield entry

    def read_state(self, process: str) -> dict[str, Any] | None:
        """``process``'s state, from its newest Delta commit."""
        for entry in self._commits(process):
            state = entry.get("dpone.state")
            return dict(json.loads(state)) if state else None
        return None

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Audit records of dpone's Delta commits, newest first."""
        records = []
        for entry in self._commits(process):
            record = json.loads(entry["dpone.audit"])
            record["finished_at"] = datetime.fromisoformat(record["finished_at"])
            if since is not None and record["finished_at"] <= since:
                break
            records.append(record)
        return records

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of ``run_id``'s Delta commit, if one exists."""
        for entry in self._commits(process):
            if entry.get("dpone.run_id") == run_id:
                return dict(json.loads(entry["dpone.audit"]))
        return None

    # ---- staging (local Arrow IPC files) ---------------------------------------------------------
    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Stage the rows as local Arrow IPC files (checked for duplicate keys before the write).

        Only delta-rs and the key checks read them back, so they are Arrow, not Parquet: see
        :mod:`.staged_formats` for what that saves.
        """
        store = ScratchStore(Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{process}-")))
        staged = FileWriter(store, f"load={load_id}/", reader.schema, None, ARROW).write(reader)
        self._staged[load_id] = (store, staged)
        schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        return StagedLoad(load_id, str(store.root), sum(f.rows for f in staged.files), schema, staged)

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Rows repeating ``key`` of an earlier row of the load."""
        store, files = self._staged[staged.load_id]
        return later_repeats(store, files.files, key)

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Leave the rows at ``seqs`` out of staging."""
        store, files = self._staged[staged.load_id]
        kept = without_rows(store, files, set(seqs.to_pylist()))
        self._staged[staged.load_id] = (store, kept)
        return StagedLoad(staged.load_id, staged.location, sum(f.rows for f in kept.files), staged.schema, kept)

    def drop_staging(self, staged: StagedLoad) -> None:
        """Remove the local staging folder."""
        found = self._staged.pop(staged.load_id, None)
        if found is not None:
            shutil.rmtree(found[0].root, ignore_errors=True)

    def cleanup_orphans(self, process: str) -> list[str]:
        """Remove staging folders of killed runs of ``process`` (older than a day)."""
        cutoff = datetime.now(UTC).timestamp() - 86_400
        dropped = []
        for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}{process}-*"):
            with contextlib.suppress(OSError):
                if folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    dropped.append(folder.name)
        return dropped

    def scratch(self, load_id: str) -> Path:
        """The load's local staging folder."""
        return self._staged[load_id][0].root

    def staged_dataset(self, load_id: str) -> ds.FileSystemDataset:
        """The staged rows as a dataset (counted, scanned and joined by the Delta operation)."""
        store, files = self._staged[load_id]
        paths = [store.path(f.key) for f in files.files]
        return ds.dataset(paths, schema=files.schema, format=ARROW.dataset_format)

    def staged_reader(
        self, load_id: str, columns: Sequence[str] | None = None, keep: ds.Expression | None = None
    ) -> pa.RecordBatchReader:
        """The staged rows as one stream, a row group at a time (what the Delta operation writes)."""
        return in_file_order(self.staged_dataset(load_id), columns, keep)

    def staged_keys(self, load_id: str, key: Sequence[str]) -> pa.Table:
        """The staged rows' key columns."""
        store, files = self._staged[load_id]
        return positions(store, files.files, list(key))

    # ---- commit ----------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[DeltaCommit]:
        """The Delta operation runs on clean exit, with dpone's records in its commit."""
        session = DeltaCommit(self, process, load_id)
        self._finalizing = load_id
        try:
            yield session
            session.write()
        finally:
            self._finalizing = None

    def reconcile_access(self) -> SqlAccess | None:
        """Inside the finalize: the load's staged files, which the Delta commit writes after the checks."""
        if self._finalizing is None or self._finalizing not in self._staged:
            return None
        scope = "the load's staged rows, which the Delta commit writes"
        return dataset_access(self.staged_dataset(self._finalizing), "staged_rows", scope)

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The current version's rows."""
        table = self.delta()
        if table is None:
            return pa.table({})
        return table.to_pyarrow_dataset().to_table(columns=list(columns) if columns else None)

    def close(self) -> None:
        """Remove what this run staged and did not drop."""
        for store, _ in self._staged.values():
            shutil.rmtree(store.root, ignore_errors=True)
        self._staged.clear()
        self.forget_version()


if TYPE_CHECKING:

    def _is_a_sink(sink: DeltaTableSink) -> Sink:
        return sink  # mypy checks the class against the port here
