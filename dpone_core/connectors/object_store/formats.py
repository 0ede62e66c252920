"""Reading one file of a set as Arrow batches: CSV, Parquet and JSON lines, compressed or not.

Every format is read with pyarrow's streaming reader for it, one file at a time, so memory holds
one batch and not the file; ``.gz``, ``.zst``, ``.bz2`` and ``.lz4`` text files are decompressed on
the fly (detected by extension). Hive-style folders (``date=2024-01-02/``) become string columns
when asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv as pacsv
from pyarrow import json as pajson

from dpone_core.connectors.object_store.store import ObjectInfo, ObjectStore
from dpone_core.errors import TerminalError
from dpone_core.manifest.process import CsvOptions
from dpone_core.model import iter_batches

FileFormat = Literal["csv", "parquet", "jsonl"]


@dataclass(frozen=True)
class FileReading:
    """How the files of one source are read."""

    store: ObjectStore
    format: FileFormat
    csv: CsvOptions
    hive_partitions: bool = False
    batch_rows: int = 65_536
    batch_bytes: int = 1 << 20

    def schema(self, first: ObjectInfo, text_columns: frozenset[str] = frozenset()) -> tuple[pa.Schema, frozenset[str]]:
        """The set's columns as the first file has them, then its Hive partition columns (named second)."""
        try:
            if self.format == "parquet":
                with self.store.filesystem.open_input_file(self.store.path(first.key)) as handle:
                    schema = pq.read_schema(handle)
            else:
                with self._text(first) as stream:
                    schema = self._text_reader(stream, None, text_columns).schema
        except (pa.ArrowException, OSError) as exc:
            raise self.unreadable(first, exc) from None
        extra = [name for name, _ in self._partitions(first) if name not in schema.names]
        return pa.schema([*schema, *(pa.field(name, pa.string()) for name in extra)]), frozenset(extra)

    def batches(
        self, info: ObjectInfo, schema: pa.Schema, partition_columns: frozenset[str] = frozenset()
    ) -> Iterator[pa.RecordBatch]:
        """``info``'s rows in ``schema`` (its column order and types), one batch at a time."""
        partitions = dict(self._partitions(info))
        from_file = [f for f in schema if f.name not in partition_columns]
        file_schema = pa.schema(from_file)
        try:
            for raw in self._file_batches(info, file_schema):
                batch = raw if raw.schema.equals(file_schema) else _conform(raw, file_schema, self.store.uri(info.key))
                yield _with_partitions(batch, schema, partitions) if partition_columns else batch
        except (pa.ArrowException, OSError) as exc:
            raise self.unreadable(info, exc) from None

    def _file_batches(self, info: ObjectInfo, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        if self.format == "parquet":
            with self.store.filesystem.open_input_file(self.store.path(info.key)) as handle:
                yield from pq.ParquetFile(handle, pre_buffer=False).iter_batches(
                    batch_size=self.batch_rows, columns=schema.names
                )
            return
        with self._text(info) as stream:
            yield from iter_batches(self._text_reader(stream, schema, frozenset()))

    def _text(self, info: ObjectInfo) -> pa.NativeFile:
        return self.store.filesystem.open_input_stream(self.store.path(info.key), compression="detect")

    def _text_reader(
        self, stream: pa.NativeFile, schema: pa.Schema | None, text_columns: frozenset[str]
    ) -> pa.RecordBatchReader:
        """A streaming CSV or JSON-lines reader; with ``schema``, exactly those columns and types."""
        block = max(self.batch_bytes, 1 << 16)
        if self.format == "jsonl":
            parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore") if schema else None
            return pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=block), parse_options=parse)
        opts = self.csv
        types = {f.name: f.type for f in schema} if schema is not None else dict.fromkeys(text_columns, pa.string())
        return pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=block, autogenerate_column_names=not opts.header),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter, quote_char=opts.quote_char, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=schema.names if schema is not None else [],
                column_types=types,
                null_values=opts.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )

    def _partitions(self, info: ObjectInfo) -> list[tuple[str, str]]:
        """``name=value`` folders of the key, when Hive partitions are read as columns."""
        if not self.hive_partitions:
            return []
        found = []
        for part in info.key.split("/")[:-1]:
            name, eq, value = part.partition("=")
            if eq and name:
                found.append((unquote(name), unquote(value)))
        return found

    def unreadable(self, info: ObjectInfo, exc: Exception) -> TerminalError:
        """A file pyarrow cannot parse, as one line naming it and what to fix."""
        uri = self.store.uri(info.key)
        text = str(exc)
        reason = text.rsplit("Invalid: ", 1)[-1] if "Invalid: " in text else text
        reason = reason.replace(self.store.path(info.key), "")
        reason = " ".join(reason.split()) or type(exc).__name__
        if self._utf16(info):
            reason = f"the file is UTF-16 text ({reason}); save it as UTF-8"
        fixes = {
            "csv": "one header row, the same number of columns on every row, closed quotes, UTF-8 text "
            "(or set source.csv: delimiter, quote_char, header)",
            "parquet": "the file is not Parquet or is damaged; export it again",
            "jsonl": "one JSON object per line, UTF-8 text",
        }
        return TerminalError(f"cannot read {uri} as {self.format}: {reason}", step="extract", fix=fixes[self.format])

    def _utf16(self, info: ObjectInfo) -> bool:
        try:
            with self.store.filesystem.open_input_stream(self.store.path(info.key)) as handle:
                return handle.read(2) in (b"\xff\xfe", b"\xfe\xff")
        except (OSError, pa.ArrowException):
            return False


def _conform(batch: pa.RecordBatch, schema: pa.Schema, uri: str) -> pa.RecordBatch:
    """Give a file's batch the set's schema (column order and types of the first file)."""
    try:
        return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TerminalError(
            f"file {uri} does not match the schema of the first file: {exc}",
            step="extract",
            fix="give every file of the source the same columns and types, or split the process",
        ) from None


def _with_partitions(batch: pa.RecordBatch, schema: pa.Schema, partitions: dict[str, str]) -> pa.RecordBatch:
    """The batch with its file's partition values as constant string columns, in ``schema`` order."""
    columns = []
    for field in schema:
        if field.name in partitions:
            columns.append(pa.array([partitions[field.name]] * batch.num_rows, pa.string()))
        elif field.name in batch.schema.names:
            columns.append(batch.column(field.name))
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
