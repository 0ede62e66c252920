"""Files source: CSV, Parquet and JSON lines through ``pyarrow.dataset`` (streamed, column-pruned)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import csv as pacsv
from pyarrow import json as pajson

from dpone_core.errors import TerminalError
from dpone_core.manifest.process import CsvOptions


class FilesSource:
    """Reads every file matching ``pattern`` under ``root`` as one dataset."""

    def __init__(self, root: Path, pattern: str, file_format: str, csv: CsvOptions | None = None) -> None:
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
        if not self.root.is_dir():
            raise TerminalError(
                f"files root {self.root} does not exist", step="extract", fix="check the connection's root"
            )
        found = sorted(str(p) for p in self.root.glob(self.pattern) if p.is_file())
        if not found:
            raise TerminalError(
                f"no files match {self.pattern} under {self.root}",
                step="extract",
                fix="check source.path or the files connection's root",
            )
        return found

    def _format(self, text_columns: frozenset[str], batch_bytes: int) -> ds.FileFormat:
        if self.format == "parquet":
            return ds.ParquetFileFormat()
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
        """The dataset over all matching files."""
        return ds.dataset(self.files(), format=self._format(text_columns, batch_bytes))

    def read(self, request) -> pa.RecordBatchReader:  # type: ignore[no-untyped-def]
        """Stream batches; predicates on typed (non-text) columns are pushed into the scan."""
        dataset = self.dataset(request.text_columns, request.batch_bytes)
        names = dataset.schema.names
        missing = [c for c in (request.columns or []) if c not in names]
        if missing:
            raise TerminalError(
                f"source columns {missing} not found in {self.pattern} (has {names})",
                step="extract",
                fix="fix source.columns",
            )
        expression = None
        for predicate in request.predicates:
            if predicate.column in request.text_columns or predicate.column not in names:
                continue
            field = pc.field(predicate.column)
            try:
                value = pa.scalar(predicate.value).cast(dataset.schema.field(predicate.column).type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                continue  # not pushed down; the runtime filter still applies it on typed values
            term = {
                ">": field > value,
                ">=": field >= value,
                "<": field < value,
                "<=": field <= value,
                "==": field == value,
            }[predicate.op]
            expression = term if expression is None else expression & term
        scanner = dataset.scanner(
            columns=list(request.columns) if request.columns else None, filter=expression, batch_size=request.batch_rows
        )
        return scanner.to_reader()

    def close(self) -> None:
        """Nothing to release."""
