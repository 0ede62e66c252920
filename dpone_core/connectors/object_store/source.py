"""A set of files (a glob over a store) read as one source, file by file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from dpone_core.connectors.object_store.file_state import DEFAULT_LOOKBACK_SECONDS, FileIncrement
from dpone_core.connectors.object_store.formats import FileReading
from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.object_store.options import FileSourceOptions
from dpone_core.connectors.object_store.store import ObjectInfo, ObjectStore
from dpone_core.errors import ConfigurationError, TerminalError
from dpone_core.manifest.process import CsvOptions, parse_duration_seconds
from dpone_core.manifest.references import resolve_setting
from dpone_core.model import ReadRequest
from dpone_core.spi.ports import FileScan, SourceBase
from dpone_core.spi.spec import SourceRequest


def open_file_set(store: ObjectStore, request: SourceRequest) -> FileSetSource:
    """The process's ``source.path`` glob over ``store``, read as its ``source.format``."""
    spec = request.process.source
    assert spec.path is not None and spec.format is not None
    options = request.options if isinstance(request.options, FileSourceOptions) else FileSourceOptions()
    incremental = spec.incremental
    lookback = None
    if incremental is not None and incremental.mode == "files":
        given = incremental.lookback
        lookback = parse_duration_seconds(given) if isinstance(given, str) else DEFAULT_LOOKBACK_SECONDS
    reading = FileReading(store, spec.format, spec.csv or CsvOptions(), options.hive_partitions)
    pattern = resolve_setting(spec.path, "source.path", request.base_dir)
    return FileSetSource(reading, pattern, lookback_seconds=lookback)


class FileSetSource(SourceBase):
    """Every file of ``reading.store`` matching ``pattern``, in key order, as one stream of batches.

    The columns come from the first matching file; later files are cast to them (a file that
    cannot be is one error naming it). Row filters are applied by the runtime on typed values.
    With ``incremental.mode: files`` only files not loaded before are read (:mod:`.file_state`).
    """

    def __init__(self, reading: FileReading, pattern: str, *, lookback_seconds: float | None = None) -> None:
        super().__init__()
        self.reading, self.pattern = reading, FilePattern(pattern)
        self.store = reading.store
        self.lookback_seconds = lookback_seconds
        self.increment: FileIncrement | None = None
        self._complete = False
        self._opened: tuple[FileReading, pa.Schema, frozenset[str]] | None = None
        """The last read's reading, columns and partition columns (what :meth:`file_scan` offers)."""

    def describe(self) -> str:
        """``files:<where>/<pattern> (<format>)``."""
        return f"files:{self.store.uri(self.pattern.text)} ({self.reading.format})"

    def lineage_name(self) -> tuple[str, str]:
        """The store's namespace and the glob."""
        return self.store.lineage_name(self.pattern.text)

    def first(self) -> ObjectInfo:
        """The first matching file; none is one line naming the glob."""
        for info in self.store.objects(self.pattern):
            return info
        raise TerminalError(
            f"no files match {self.pattern.text} under {self.store.uri()}",
            step="extract",
            fix="check source.path or the connection's root",
        )

    def use_held_state(self, committed: dict[str, Any] | None) -> None:
        """Read only files not loaded before (``incremental.mode: files``), after ``committed``."""
        if self.lookback_seconds is None:
            raise ConfigurationError(
                "this source keeps no state of its own for this incremental mode",
                step="extract",
                fix="use incremental.mode files or cursor",
            )
        self.increment = FileIncrement.from_state(committed, self.lookback_seconds)

    def held_state(self) -> dict[str, Any] | None:
        """The files state to commit, once every chosen file was read."""
        if self.increment is None or not self._complete:
            return None
        return self.increment.state()

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Stream the chosen files' batches in ``request.columns`` (all columns when None)."""
        reading = FileReading(
            self.store,
            self.reading.format,
            self.reading.csv,
            self.reading.hive_partitions,
            request.batch_rows,
            request.batch_bytes,
        )
        full, partitions = reading.schema(self.first(), request.text_columns)
        missing = [c for c in (request.columns or []) if c not in full.names]
        if missing:
            raise TerminalError(
                f"source columns {missing} not found in {self.pattern.text} (has {full.names})",
                step="extract",
                fix="fix source.columns",
            )
        schema = pa.schema([full.field(c) for c in request.columns]) if request.columns else full
        self._complete = False
        chosen = partitions & set(schema.names)
        self._opened = (reading, schema, chosen)
        return pa.RecordBatchReader.from_batches(schema, self._stream(reading, schema, chosen))

    def file_scan(self) -> FileScan | None:
        """The last read's files, for a sink that reads Parquet itself; None where it would differ.

        Only Parquet without Hive partition columns (local files or objects of a store), and only
        when every chosen file has each read column with the first file's Arrow type (the Arrow read
        would otherwise convert it).
        Choosing the files is reading them for ``incremental.mode: files``: the files state then
        commits with the load, as after a complete Arrow read (a declined scan reads again).
        """
        if self._opened is None:
            return None
        reading, schema, partitions = self._opened
        if reading.format != "parquet" or partitions:
            return None
        increment = self.increment
        if increment is not None:
            increment.loaded.clear()
            increment.skipped = 0
        chosen = [i for i in self.store.objects(self.pattern) if increment is None or increment.wants(i)]
        paths = tuple(self.store.path(info.key) for info in chosen)
        filesystem = self.store.filesystem
        counts = _footer_rows(filesystem, paths, schema)
        if not paths or None in counts:
            return None
        if increment is not None:
            for info in chosen:
                increment.read(info)
        self._complete = True
        return FileScan("parquet", paths, schema, filesystem, sum(c for c in counts if c is not None))

    def _stream(self, reading: FileReading, schema: pa.Schema, partitions: frozenset[str]) -> Iterator[pa.RecordBatch]:
        increment = self.increment
        if increment is not None:
            increment.loaded.clear()
            increment.skipped = 0
        for info in self.store.objects(self.pattern):
            if increment is not None and not increment.wants(info):
                continue
            yield from reading.batches(info, schema, partitions)
            if increment is not None:
                increment.read(info)
        self._complete = True

    def close(self) -> None:
        """Nothing to release."""


FOOTER_READERS = 8
"""Footers read at once: on a store each is a round trip or two, and a set may have hundreds of files.

moto serves one request at a time, so the tests' server shows no gain (40 footers: 0.15 s either
way); against a store's real latency the reads overlap, as pyarrow's own dataset discovery does."""


def _footer_rows(filesystem: pafs.FileSystem, paths: tuple[str, ...], schema: pa.Schema) -> list[int | None]:
    """:func:`_rows_if_same_columns` of every path, in order; several at once when there are several."""
    if len(paths) < 2:
        return [_rows_if_same_columns(filesystem, path, schema) for path in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(FOOTER_READERS, len(paths)), thread_name_prefix="dpone-footers") as pool:
        return list(pool.map(lambda path: _rows_if_same_columns(filesystem, path, schema), paths))


def _rows_if_same_columns(filesystem: pafs.FileSystem, path: str, schema: pa.Schema) -> int | None:
    """The rows of the Parquet file at ``path`` when it has each column of ``schema`` with its type, else None.

    Both from the footer (one read of it per file, also on a store).
    """
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path, filesystem=filesystem)
        found = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError):
        return None  # the Arrow read reports the damaged file
    indexes = [found.get_field_index(f.name) for f in schema]  # -1: missing, or named twice
    same = all(i >= 0 and found.field(i).type == f.type for i, f in zip(indexes, schema, strict=True))
    return int(metadata.num_rows) if same else None
