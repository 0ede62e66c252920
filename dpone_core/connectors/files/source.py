"""Files source: CSV, Parquet and JSON lines through ``pyarrow.dataset`` (streamed, column-pruned)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import csv as pacsv
from pyarrow import json as pajson

from dpone_core.errors import TerminalError
from dpone_core.manifest.process import CsvOptions
from dpone_core.model import ReadRequest, iter_batches
from dpone_core.spi.ports import SourceBase


class FilesSource(SourceBase):
    """Reads every file matching ``pattern`` under ``root`` as one dataset."""

    def __init__(self, root: Path, pattern: str, file_format: str, csv: CsvOptions | None = None) -> None:
        super().__init__()
        self.root, self.pattern, self.format = root, pattern, file_format
        self.csv = csv or CsvOptions()

    def describe(self) -> str:
        """``files:<root>/<pattern> (<format>)``."""
        return f"files:{self.root / self.pattern} ({self.format})"

    def lineage_name(self) -> tuple[str, str]:
        """Namespace ``file`` and the glob path."""
        return "file", str(self.root / self.pattern)

    def files(self) -> list[str]:
        """Matching files in a stable (sorted) order."""
        try:
            is_dir = self.root.is_dir()
        except OSError as exc:
            raise TerminalError(
                f"files root {self.root}: {exc.strerror}", step="extract", fix="check the connection's root"
            ) from None
        if not is_dir:
            raise TerminalError(
                f"files root {self.root} does not exist", step="extract", fix="check the connection's root"
            )
        try:
            found = sorted(str(p) for p in self.root.glob(self.pattern) if p.is_file())
        except (OSError, ValueError, NotImplementedError) as exc:
            raise TerminalError(
                f"cannot list {self.pattern} under {self.root}: {exc}",
                step="extract",
                fix="give source.path as a glob relative to the connection's root",
            ) from None
        if not found:
            raise TerminalError(
                f"no files match {self.pattern} under {self.root}",
                step="extract",
                fix="check source.path or the files connection's root",
            )
        return found

    def _format(self, text_columns: frozenset[str], batch_bytes: int) -> ds.FileFormat:
        if self.format == "parquet":
            # pre_buffer reads whole column chunks ahead and made memory grow with the file.
            return ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
        if self.format == "jsonl":
            return ds.JsonFileFormat(read_options=pajson.ReadOptions(block_size=max(batch_bytes, 1 << 16)))
        opts = self.csv
        return ds.CsvFileFormat(
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter, quote_char=opts.quote_char, newlines_in_values=True
            ),
            read_options=pacsv.ReadOptions(
                block_size=max(batch_bytes, 1 << 16), autogenerate_column_names=not opts.header
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in text_columns},
                null_values=opts.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )

    def dataset(self, text_columns: frozenset[str] = frozenset(), batch_bytes: int = 1 << 20) -> ds.Dataset:
        """The dataset over all matching files (its schema is read from the first)."""
        files = self.files()
        try:
            return ds.dataset(files, format=self._format(text_columns, batch_bytes))
        except (pa.ArrowException, OSError) as exc:
            raise self._unreadable(files[0], exc) from None

    def _unreadable(self, path: str, exc: Exception) -> TerminalError:
        """A file pyarrow cannot parse, as one line with what to fix."""
        text = str(exc)
        reason = text.rsplit("Invalid: ", 1)[-1] if "Invalid: " in text else text
        reason = _OPEN_PREFIX.sub("", reason.replace(path, ""))
        reason = " ".join(reason.split()) or type(exc).__name__
        if _utf16(path):
            reason = f"the file is UTF-16 text ({reason}); save it as UTF-8"
        fixes = {
            "csv": "one header row, the same number of columns on every row, closed quotes, UTF-8 text "
            "(or set source.csv: delimiter, quote_char, header)",
            "parquet": "the file is not Parquet or is damaged; export it again",
            "jsonl": "one JSON object per line, UTF-8 text",
        }
        return TerminalError(
            f"cannot read {path} as {self.format}: {reason}", step="extract", fix=fixes.get(self.format)
        )

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """Stream batches file by file.

        Parquet and CSV are read with pyarrow's per-file streaming readers, which hold one batch
        at a time; the dataset scanner read ahead without bound when the gates were slower than
        the disk. Row filters are applied by the runtime on typed values.
        """
        dataset = self.dataset(request.text_columns, request.batch_bytes)
        names = dataset.schema.names
        missing = [c for c in (request.columns or []) if c not in names]
        if missing:
            raise TerminalError(
                f"source columns {missing} not found in {self.pattern} (has {names})",
                step="extract",
                fix="fix source.columns",
            )
        columns = list(request.columns) if request.columns else names
        schema = pa.schema([dataset.schema.field(c) for c in columns])
        if self.format == "jsonl":
            scanner = dataset.scanner(
                columns=columns, batch_size=request.batch_rows, batch_readahead=1, fragment_readahead=1
            )
            return pa.RecordBatchReader.from_batches(schema, self._guarded(self.files()[0], scanner.to_reader()))
        return pa.RecordBatchReader.from_batches(schema, self._stream(schema, request))

    def _guarded(self, path: str, batches: Iterator[pa.RecordBatch] | pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        """``batches`` with a parse error turned into the one-line error naming ``path``."""
        try:
            yield from iter_batches(batches) if isinstance(batches, pa.RecordBatchReader) else batches
        except (pa.ArrowException, OSError) as exc:
            raise self._unreadable(path, exc) from None

    def _stream(self, schema: pa.Schema, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        for path in self.files():
            for batch in self._guarded(path, self._file_batches(path, schema, request)):
                yield batch if batch.schema.equals(schema) else _conform(batch, schema, path)

    def _file_batches(self, path: str, schema: pa.Schema, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        """One file's batches with pyarrow's streaming reader for its format."""
        columns = schema.names
        if self.format == "parquet":
            yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(
                batch_size=request.batch_rows, columns=columns
            )
            return
        opts = self.csv
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                block_size=max(request.batch_bytes, 1 << 16), autogenerate_column_names=not opts.header
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter, quote_char=opts.quote_char, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={c: schema.field(c).type for c in columns},
                null_values=opts.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        yield from iter_batches(reader)

    def close(self) -> None:
        """Nothing to release."""


_OPEN_PREFIX = re.compile(r"^Error creating dataset\..*?input source '[^']*': ", re.S)


def _utf16(path: str) -> bool:
    """The file starts with a UTF-16 byte order mark."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) in (b"\xff\xfe", b"\xfe\xff")
    except OSError:
        return False


def _conform(batch: pa.RecordBatch, schema: pa.Schema, path: str) -> pa.RecordBatch:
    """Give a file's batch the dataset's schema (column order and types of the first file)."""
    try:
        return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TerminalError(
            f"file {path} does not match the schema of the first file: {exc}",
            step="extract",
            fix="give every file of the source the same columns and types, or split the process",
        ) from None
