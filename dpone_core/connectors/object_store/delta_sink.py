"""A Delta Lake table on a folder or S3 (delta-rs), with dpone's state and audit in the Delta commit.

Rows are staged as local Parquet files (the per-load key checks run there), then one delta-rs
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
import pyarrow.dataset as ds

from dpone_core.connectors.object_store import DELTA_STRATEGIES
from dpone_core.connectors.object_store.local import LocalStore
from dpone_core.connectors.object_store.table_files import (
    FileWriter,
    StagedFiles,
    later_repeats,
    positions,
    without_rows,
)
from dpone_core.errors import ConcurrentRunError, ConfigurationError, TerminalError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.model import SEQ_COLUMN, StagedLoad, StrategyCounts, TableRef, TargetColumn, TargetSchema
from dpone_core.spi.ports import Sink, SinkBase
from dpone_core.strategies.plan import LoadPlan

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

    def describe(self) -> str:
        """``delta:<uri>``."""
        return f"delta:{self.uri}"

    def lineage_name(self) -> tuple[str, str]:
        """The store's namespace and the table folder."""
        return self._lineage

    def delta(self) -> Any:
        """The ``deltalake.DeltaTable``, or None before the first load."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except OSError as exc:
            raise TerminalError(f"cannot open the delta table {self.uri}: {exc}", step="connect") from None

    # ---- catalog, state, audit -------------------------------------------------------------------
    def target_schema(self) -> TargetSchema | None:
        """The Delta table's schema, or None before the first load."""
        table = self.delta()
        if table is None:
            return None
        schema = pa.schema(table.schema())
        return TargetSchema(tuple(TargetColumn(f.name, f.type, f.nullable) for f in schema))

    def row_count(self) -> int | None:
        """Rows of the current version, or None before the first load."""
        table = self.delta()
        return None if table is None else int(table.to_pyarrow_dataset().count_rows())

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

    # ---- staging (local Parquet) -----------------------------------------------------------------
    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Stage the rows as local Parquet files (checked for duplicate keys before the write)."""
        store = LocalStore(Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{process}-")))
        staged = FileWriter(store, f"load={load_id}/", reader.schema, None).write(reader)
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

    def staged_reader(self, load_id: str) -> pa.RecordBatchReader:
        """The staged rows as one stream (what the Delta operation writes)."""
        store, files = self._staged[load_id]
        dataset = ds.dataset([store.path(f.key) for f in files.files], schema=files.schema, format="parquet")
        return dataset.scanner(batch_size=65_536).to_reader()

    def staged_keys(self, load_id: str, key: Sequence[str]) -> pa.Table:
        """The staged rows' key columns."""
        store, files = self._staged[load_id]
        return positions(store, files.files, list(key))

    # ---- commit ----------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[_DeltaCommit]:
        """The Delta operation runs on clean exit, with dpone's records in its commit."""
        session = _DeltaCommit(self, process, load_id)
        yield session
        session.write()

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


if TYPE_CHECKING:

    def _is_a_sink(sink: DeltaTableSink) -> Sink:
        return sink  # mypy checks the class against the port here


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _DeltaCommit:
    """Decides the Delta operation and its counts; runs it, with the records, at :meth:`write`."""

    def __init__(self, sink: DeltaTableSink, process: str, load_id: str) -> None:
        self.sink, self.process, self.load_id = sink, process, load_id
        self.plan: LoadPlan | None = None
        self.audit: dict[str, Any] = {}
        self.state: dict[str, Any] | None = None

    def apply_ddl(self, statements: list[str]) -> None:
        """Delta has no DDL."""

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Count what the operation will change (it runs at the commit)."""
        if plan.strategy not in DELTA_STRATEGIES:
            raise ConfigurationError(
                f"a delta table supports {', '.join(sorted(DELTA_STRATEGIES))} in this version, not {plan.strategy}",
                step="finalize",
                fix="use a database sink for scd2, snapshot_diff and partition_replace",
            )
        if plan.delete_marker is not None:
            raise ConfigurationError(
                "delete markers are not supported on delta tables yet", step="finalize", fix="drop sink.delete_marker"
            )
        self.plan = plan
        _, files = self.sink._staged[self.load_id]
        staged_rows = sum(f.rows for f in files.files)
        table = self.sink.delta()
        if plan.strategy == "full_refresh":
            return StrategyCounts(inserted=staged_rows, deleted=self.sink.row_count() or 0)
        if plan.strategy != "merge" or table is None:
            return StrategyCounts(inserted=staged_rows)
        matched = self._matched(table, plan.primary_key)
        return StrategyCounts(inserted=staged_rows - matched, updated=matched)

    def _matched(self, table: Any, key: Sequence[str]) -> int:
        """Staged rows whose key is in the table (the rows the merge updates)."""
        import duckdb

        staged = self.sink.staged_keys(self.load_id, key)
        target = table.to_pyarrow_dataset().to_table(columns=list(key))
        on = " AND ".join(f"s.{_quoted(k)} = t.{_quoted(k)}" for k in key)
        with duckdb.connect() as con:
            con.register("s", staged)
            con.register("t", target)
            found = con.execute(f"SELECT count(*) FROM s WHERE EXISTS (SELECT 1 FROM t WHERE {on})").fetchone()
        return int(found[0]) if found else 0

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Keep the records for the Delta commit's metadata."""
        now = datetime.now(UTC).isoformat()
        self.audit = {**audit, "finished_at": now, "started_at": str(audit["started_at"])}
        self.state = None if state is None else {**state, "updated_at": now}

    def write(self) -> None:
        """Run the Delta operation; its commit holds the rows, the state and the audit record."""
        from deltalake import CommitProperties, Transaction, write_deltalake
        from deltalake.exceptions import CommitFailedError

        assert self.plan is not None
        sink, plan = self.sink, self.plan
        table = sink.delta()
        app = f"dpone:{self.process}"
        version = ((table.transaction_version(app) or 0) if table is not None else 0) + 1
        metadata = {
            "dpone.process": self.process,
            "dpone.run_id": str(self.audit.get("run_id", "")),
            "dpone.load_id": self.load_id,
            "dpone.state": json.dumps(self.state, default=str) if self.state is not None else "",
            "dpone.audit": json.dumps(self.audit, default=str),
        }
        properties = CommitProperties(custom_metadata=metadata, app_transactions=[Transaction(app, version)])
        reader = sink.staged_reader(self.load_id)
        try:
            if plan.strategy == "merge" and table is not None:
                on = " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in plan.primary_key)
                merger = table.merge(
                    reader, on, source_alias="s", target_alias="t", merge_schema=True, commit_properties=properties
                )
                merger.when_matched_update_all().when_not_matched_insert_all().execute()
            elif plan.strategy == "full_refresh":
                target = table if table is not None else sink.uri
                write_deltalake(
                    target, reader, mode="overwrite", schema_mode="overwrite",
                    storage_options=sink.storage_options, commit_properties=properties,
                )  # fmt: skip
            else:
                target = table if table is not None else sink.uri
                write_deltalake(
                    target, reader, mode="append", schema_mode="merge",
                    storage_options=sink.storage_options, commit_properties=properties,
                )  # fmt: skip
        except CommitFailedError as exc:
            raise ConcurrentRunError(
                f"another writer committed to {sink.uri} first ({exc})",
                step="finalize",
                fix="run again: the next attempt starts from the new version",
            ) from None
