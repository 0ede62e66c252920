"""The one Delta operation a load ends with, carrying dpone's state and audit in its commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dpone_core.connectors.object_store import DELTA_STRATEGIES
from dpone_core.connectors.object_store.delta_merge import DeltaMerge, unmarked
from dpone_core.connectors.object_store.delta_scd2 import Scd2Merge
from dpone_core.connectors.object_store.delta_slices import SliceReplace
from dpone_core.errors import ConcurrentRunError, ConfigurationError
from dpone_core.model import StrategyCounts
from dpone_core.strategies.plan import LoadPlan

if TYPE_CHECKING:
    from dpone_core.connectors.object_store.delta_sink import DeltaTableSink

ROW_GROUP_ROWS = 262_144
"""Rows per row group of the data files delta-rs writes.

Its default (1Mi rows) keeps the whole row group a file is writing in memory, as encoded pages,
until it is flushed; a quarter of that took a 5M-row load's peak from near 510 MB to 450 MB (the
Delta case of ``benchmarks/s3.py``), and a row group is still a few MB of Parquet for a reader.
"""


class DeltaCommit:
    """Decides the Delta operation and its counts; runs it, with the records, at :meth:`write`."""

    def __init__(self, sink: DeltaTableSink, process: str, load_id: str) -> None:
        self.sink, self.process, self.load_id = sink, process, load_id
        self.plan: LoadPlan | None = None
        self.slices: SliceReplace | None = None
        self.audit: dict[str, Any] = {}
        self.state: dict[str, Any] | None = None

    def apply_ddl(self, statements: list[str]) -> None:
        """Delta has no DDL."""

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Count what the operation will change (it runs at the commit)."""
        if plan.strategy not in DELTA_STRATEGIES:
            raise ConfigurationError(
                f"a delta table supports {', '.join(sorted(DELTA_STRATEGIES))}, not {plan.strategy}",
                step="finalize",
                fix="use a database sink for snapshot_diff",
            )
        self.plan = plan
        staged = self.sink.staged_dataset(self.load_id)
        rows, table = int(staged.count_rows()), self.sink.delta()
        if plan.strategy == "full_refresh":
            return StrategyCounts(inserted=rows, deleted=self.sink.row_count() or 0)
        if plan.strategy == "scd2":
            return Scd2Merge(staged, table, plan, self.sink.scratch(self.load_id)).counts()
        if plan.strategy == "partition_replace":
            assert plan.partition is not None
            self.slices = SliceReplace.of(plan.partition, staged.to_table(columns=[plan.partition.column]).column(0))
            replaced = self.slices.replaced_rows(table.to_pyarrow_dataset()) if table is not None else 0
            return StrategyCounts(inserted=rows, deleted=replaced)
        if plan.strategy != "merge" or table is None:
            return StrategyCounts(inserted=rows)
        return DeltaMerge(staged, table, plan).counts()

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Keep the records for the Delta commit's metadata."""
        now = datetime.now(UTC).isoformat()
        self.audit = {**audit, "finished_at": now, "started_at": str(audit["started_at"])}
        self.state = None if state is None else {**state, "updated_at": now}

    def _options(self, table: Any) -> dict[str, Any]:
        """delta-rs's commit and writer properties for the operation on ``table`` (None before the first load).

        The commit carries dpone's records as metadata and the process's application transaction.
        """
        from deltalake import CommitProperties, Transaction, WriterProperties

        app = f"dpone:{self.process}"
        version = ((table.transaction_version(app) or 0) if table is not None else 0) + 1
        metadata = {
            "dpone.process": self.process,
            "dpone.run_id": str(self.audit.get("run_id", "")),
            "dpone.load_id": self.load_id,
            "dpone.state": json.dumps(self.state, default=str) if self.state is not None else "",
            "dpone.audit": json.dumps(self.audit, default=str),
        }
        commit = CommitProperties(custom_metadata=metadata, app_transactions=[Transaction(app, version)])
        return {"commit_properties": commit, "writer_properties": WriterProperties(max_row_group_size=ROW_GROUP_ROWS)}

    def write(self) -> None:
        """Run the Delta operation; its commit holds the rows, the state and the audit record.

        A load that found no table creates it, and fails if one appeared meanwhile (delta-rs's
        ``mode="error"``): two first loads of a process would otherwise both commit, the later one
        appending to the table the other created.
        """
        from deltalake.exceptions import CommitFailedError, DeltaError

        assert self.plan is not None
        creates = self.sink.delta() is None
        try:
            self._operate()
        except CommitFailedError as exc:
            self.sink.forget_version()
            raise self._lost(str(exc)) from None
        except DeltaError:
            self.sink.forget_version()
            if creates and self.sink.delta() is not None:
                raise self._lost("it created the table this load was to create") from None
            raise
        self.sink.forget_version()

    def _lost(self, reason: str) -> ConcurrentRunError:
        return ConcurrentRunError(
            f"another writer committed to {self.sink.uri} first ({reason})",
            step="finalize",
            fix="run again: the next attempt starts from the new version",
        )

    def _operate(self) -> None:
        from deltalake import write_deltalake

        sink, plan = self.sink, self.plan
        assert plan is not None
        table = sink.delta()
        target = table if table is not None else sink.uri
        staged = sink.staged_dataset(self.load_id)

        def write(data: Any, overwrite: bool, **options: Any) -> None:
            options.setdefault("schema_mode", "merge")
            options.update(storage_options=sink.storage_options, **self._options(table))
            if table is None:
                options.pop("schema_mode")
                write_deltalake(target, data, mode="error", **options)
            elif overwrite:
                write_deltalake(target, data, mode="overwrite", **options)
            else:
                write_deltalake(target, data, mode="append", **options)

        if plan.strategy == "scd2":
            scd2 = Scd2Merge(staged, table, plan, sink.scratch(self.load_id))
            if table is None:
                write(scd2.first_versions(), False)
                return
            scd2.add_new_columns()
            table = sink.delta()
            scd2.target = table
            scd2.execute(self._options(table))
        elif plan.strategy == "merge" and table is not None:
            DeltaMerge(staged, table, plan).execute(sink.staged_reader(self.load_id), self._options(table))
        elif plan.strategy == "full_refresh":
            write(self._rows(), True, schema_mode="overwrite")
        elif plan.strategy == "partition_replace" and table is not None and self.slices is not None:
            write(self._rows(), True, predicate=self.slices.predicate())
        else:
            write(self._rows(), False)

    def _rows(self) -> pa.RecordBatchReader:
        """The staged rows the table keeps: without a hard delete marker's column and marked rows."""
        assert self.plan is not None
        marker = self.plan.delete_marker
        kept = unmarked(marker.column) if marker is not None and marker.mode == "hard" else None
        return self.sink.staged_reader(self.load_id, self.plan.target_columns, kept)
