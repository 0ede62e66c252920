"""Parquet directory sink: staged files, then an atomic commit journal (no database needed).

Layout under the files connection's root::

    <schema>/<table>/part-<load_id>-0000.parquet     committed data (what readers scan)
    _dpone/staging/<process>__<load_id>/              files of a load not yet committed
    _dpone/journal/<load_id>.json                     the commit point: moves, deletes, state, audit
    _dpone/state/<process>.json                       committed cursor state
    _dpone/loads/<load_id>.json                       one audit record per committed load

Writing the journal (:mod:`dpone_core.durable`: temp file, fsync, rename, folder fsync) is the
commit. Applying it (renames, deletes, state and audit files) is idempotent, so a crash after
the journal is written is rolled forward by the next run, and a crash before it leaves only
staging, which the next run removes.
Supported strategies: append, incremental and full_refresh.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from dpone_core.connectors.files import FILE_STRATEGIES
from dpone_core.durable import publish, temporary_beside, write_json
from dpone_core.errors import ConcurrentRunError, ConfigurationError
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.model import SEQ_COLUMN, StagedLoad, StrategyCounts, TableRef, TargetColumn, TargetSchema, iter_batches
from dpone_core.spi.ports import SinkBase
from dpone_core.state.file_bookkeeping import FileBookkeeping
from dpone_core.strategies.plan import LoadPlan

_ROWS_PER_FILE = 1_000_000
_STAGING_LOCK = ".owner.lock"


class ParquetDirectorySink(SinkBase):
    """Sink writing a table as a directory of Parquet files."""

    def __init__(self, root: Path, table: str) -> None:
        self.root = root
        schema, name = split_table_name(table)
        self.table = TableRef(schema, name)
        self.table_dir = root.joinpath(*(part for part in (schema, name) if part))
        self.meta = root / "_dpone"
        self.bookkeeping = FileBookkeeping(self.meta)
        self._held: dict[str, Any] = {}
        self._recover()

    # ---- descriptions -----------------------------------------------------------------------------
    def describe(self) -> str:
        """``parquet:<dir>``."""
        return f"parquet:{self.table_dir}"

    def lineage_name(self) -> tuple[str, str]:
        """Namespace ``file`` and the table directory."""
        return "file", str(self.table_dir)

    def _data_files(self) -> list[Path]:
        return sorted(self.table_dir.glob("*.parquet")) if self.table_dir.is_dir() else []

    # ---- catalog and state ---------------------------------------------------------------------
    def target_schema(self) -> TargetSchema | None:
        """Schema of the committed files, or None when the table has no files yet."""
        files = self._data_files()
        if not files:
            return None
        schema = pq.read_schema(files[-1])
        return TargetSchema(tuple(TargetColumn(f.name, f.type, f.nullable) for f in schema))

    def row_count(self) -> int | None:
        """Rows in the committed files (from their footers), or None before the first load."""
        files = self._data_files()
        return sum(pq.ParquetFile(p).metadata.num_rows for p in files) if files else None

    def plan_ddl(self, current: TargetSchema | None, desired: TargetSchema) -> list[str]:
        """Parquet files carry their own schema: there is never DDL to run."""
        return []

    def read_state(self, process: str) -> dict[str, Any] | None:
        """Committed state of ``process``."""
        return self.bookkeeping.read_state(process)

    def loads(self, process: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Committed audit records, newest first."""
        return self.bookkeeping.loads(process, since)

    def committed_load(self, process: str, run_id: str) -> dict[str, Any] | None:
        """The audit record of a committed load with ``run_id``."""
        return self.bookkeeping.committed_load(process, run_id)

    # ---- staging ---------------------------------------------------------------------------------
    def stage(self, reader: pa.RecordBatchReader, load_id: str, process: str = "load") -> StagedLoad:
        """Stream batches into Parquet files under the staging folder."""
        folder = self.meta / "staging" / f"{process}__{load_id}"
        folder.mkdir(parents=True, exist_ok=True)
        self._hold(folder)
        rows, index, writer, in_file = 0, 0, None, 0
        try:
            for batch in iter_batches(reader):
                if writer is None or in_file >= _ROWS_PER_FILE:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(str(folder / f"part-{index:04d}.parquet"), reader.schema)
                    index, in_file = index + 1, 0
                writer.write_batch(batch)
                rows += batch.num_rows
                in_file += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        schema = pa.schema([f for f in reader.schema if f.name != SEQ_COLUMN])
        return StagedLoad(load_id, str(folder), rows, schema, folder)

    def _staged_sql(self, staged: StagedLoad) -> str:
        return str(Path(staged.handle) / "*.parquet").replace("'", "''")

    def staged_duplicates(self, staged: StagedLoad, key: tuple[str, ...]) -> pa.Table:
        """Later occurrences of a key in the staged files (DuckDB window over the Parquet files)."""
        import duckdb

        if not list(Path(staged.handle).glob("*.parquet")):
            return pa.table({SEQ_COLUMN: pa.array([], pa.int64())})
        keys = ", ".join('"' + k.replace('"', '""') + '"' for k in key)
        with duckdb.connect() as con:
            return con.sql(
                f"SELECT * EXCLUDE (dpone_rn) FROM (SELECT *, row_number() OVER (PARTITION BY {keys} "
                f"ORDER BY \"{SEQ_COLUMN}\") AS dpone_rn FROM read_parquet('{self._staged_sql(staged)}')) "
                "WHERE dpone_rn > 1"
            ).to_arrow_table()

    def discard_staged(self, staged: StagedLoad, seqs: pa.Array) -> StagedLoad:
        """Rewrite the staged files without the given sequence numbers."""
        folder = Path(staged.handle)
        dataset = ds.dataset(sorted(str(p) for p in folder.glob("*.parquet")), format="parquet")
        kept = dataset.to_table(filter=~ds.field(SEQ_COLUMN).isin(seqs))
        for path in folder.glob("*.parquet"):
            path.unlink()
        pq.write_table(kept, str(folder / "part-0000.parquet"))
        return StagedLoad(staged.load_id, staged.location, kept.num_rows, staged.schema, folder)

    def _hold(self, folder: Path) -> None:
        """Lock a staging folder for as long as this run owns it (its lock file stays open)."""
        handle = (folder / _STAGING_LOCK).open("w")
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._held[str(folder)] = handle

    def _release(self, folder: Path) -> None:
        handle = self._held.pop(str(folder), None)
        if handle is not None:
            handle.close()

    def drop_staging(self, staged: StagedLoad) -> None:
        """Remove the staging folder (best effort) and release its lock."""
        shutil.rmtree(staged.handle, ignore_errors=True)
        self._release(Path(staged.handle))

    def cleanup_orphans(self, process: str) -> list[str]:
        """Remove staging folders of ``process`` whose run is gone; a live run's folder is locked and kept.

        Another run of the process may be staging right now (the directory lock is only taken for the
        commit), so a folder is removed only if its lock can be taken: its owner died or finished.
        """
        folder = self.meta / "staging"
        dropped = []
        for path in sorted(folder.glob(f"{process}__*")) if folder.is_dir() else []:
            if str(path) in self._held or not _unowned(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            dropped.append(path.name)
        return dropped

    # ---- commit ----------------------------------------------------------------------------------
    @contextmanager
    def finalize(self, process: str, load_id: str) -> Iterator[_FilesFinalizeSession]:
        """Hold the directory lock; the journal written on clean exit is the commit."""
        self.meta.mkdir(parents=True, exist_ok=True)
        with (self.meta / "lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConcurrentRunError(
                    f"another run is committing to {self.root}", fix="wait for it to finish"
                ) from None
            session = _FilesFinalizeSession(self, process, load_id)
            yield session
            journal = self.meta / "journal" / f"{load_id}.json"
            write_json(journal, session.journal())
            self._apply(journal)

    def _recover(self) -> None:
        """Roll forward journals left by a crash between commit and apply."""
        folder = self.meta / "journal"
        for journal in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            self._apply(journal)

    def _apply(self, journal: Path) -> None:
        data = json.loads(journal.read_text(encoding="utf-8"))
        for path in data["delete"]:
            Path(path).unlink(missing_ok=True)
        self.table_dir.mkdir(parents=True, exist_ok=True)
        for source, target in data["moves"]:
            if Path(source).exists():
                _strip_sequence(Path(source), Path(target))
        self.bookkeeping.write(data["process"], data["load_id"], data["audit"], data["state"])
        shutil.rmtree(data["staging"], ignore_errors=True)
        journal.unlink(missing_ok=True)

    def read_target(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All committed rows."""
        files = [str(p) for p in self._data_files()]
        return ds.dataset(files, format="parquet").to_table(columns=list(columns) if columns else None)

    def close(self) -> None:
        """Release the locks of staging this run still holds."""
        for folder in list(self._held):
            self._release(Path(folder))


def _unowned(folder: Path) -> bool:
    """No live run holds the staging folder's lock (a folder without one is a crashed run's too)."""
    lock = folder / _STAGING_LOCK
    if not lock.exists():
        return True
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def _strip_sequence(source: Path, target: Path) -> None:
    """Publish a staged file without the internal sequence column (write temp, then rename)."""
    table = pq.read_table(source)
    if SEQ_COLUMN in table.column_names:
        table = table.drop_columns([SEQ_COLUMN])
    temporary = temporary_beside(target)
    pq.write_table(table, str(temporary))
    publish(temporary, target)
    source.unlink()


class _FilesFinalizeSession:
    """Collects what the commit will do; nothing is visible until the journal is written."""

    def __init__(self, sink: ParquetDirectorySink, process: str, load_id: str) -> None:
        self.sink, self.process, self.load_id = sink, process, load_id
        self.moves: list[tuple[str, str]] = []
        self.deletes: list[str] = []
        self.staging = ""
        self.audit: dict[str, Any] = {}
        self.state: dict[str, Any] | None = None

    def apply_ddl(self, statements: list[str]) -> None:
        """Parquet has no DDL."""

    def apply_strategy(self, plan: LoadPlan) -> StrategyCounts:
        """Plan the file moves (and, for full_refresh, the deletes)."""
        if plan.strategy not in FILE_STRATEGIES:
            raise ConfigurationError(
                f"the parquet sink supports {', '.join(sorted(FILE_STRATEGIES))}, not {plan.strategy}",
                step="finalize",
                fix="use a database sink for merge/scd2",
            )
        folder = Path(str(plan.staging))
        self.staging = str(folder)
        counts = StrategyCounts()
        if plan.strategy == "full_refresh":
            existing = self.sink._data_files()
            counts.deleted = sum(pq.ParquetFile(p).metadata.num_rows for p in existing)
            self.deletes = [str(p) for p in existing]
        for index, path in enumerate(sorted(folder.glob("*.parquet"))):
            counts.inserted += pq.ParquetFile(path).metadata.num_rows
            self.moves.append((str(path), str(self.sink.table_dir / f"part-{self.load_id}-{index:04d}.parquet")))
        return counts

    def record(self, audit: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Keep the audit record and state for the journal."""
        self.audit, self.state = FileBookkeeping.stamped(audit, state)

    def journal(self) -> dict[str, Any]:
        """The commit record."""
        return {
            "process": self.process,
            "load_id": self.load_id,
            "moves": self.moves,
            "delete": self.deletes,
            "staging": self.staging,
            "state": self.state,
            "audit": self.audit,
        }
