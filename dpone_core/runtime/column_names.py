"""Column name normalisation (``source.column_names``): as_is, lower or snake_case.

Applied to the source's Arrow schema right after reading, so contracts, keys, cursors and the
target table all use the normalised names. Renaming is metadata only (no data is copied).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa

from dpone_core.errors import TerminalError
from dpone_core.model import iter_batches

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(name: str, mode: str) -> str:
    """Normalise one column name.

    >>> [normalise(n, "snake") for n in ["OrderID", "Customer Name", "customerName", "HTTPStatus2xx", "a--b"]]
    ['order_id', 'customer_name', 'customer_name', 'http_status2xx', 'a_b']
    >>> normalise("Customer Name", "lower")
    'customer name'
    """
    if mode == "lower":
        return name.lower()
    if mode == "snake":
        spaced = _CAMEL_BOUNDARY.sub("_", name)
        return _NOT_WORD.sub("_", spaced).strip("_").lower() or name
    return name


def renamed_reader(reader: pa.RecordBatchReader, mode: str) -> pa.RecordBatchReader:
    """``reader`` with normalised column names; two columns that normalise alike are an error."""
    if mode == "as_is":
        return reader
    names = [normalise(n, mode) for n in reader.schema.names]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        originals = [o for o, n in zip(reader.schema.names, names, strict=True) if n in clashes]
        raise TerminalError(
            f"source columns {originals} all become {clashes} under column_names: {mode}",
            step="extract",
            fix="rename them in a query source, or use column_names: as_is",
        )
    schema = pa.schema([f.with_name(n) for f, n in zip(reader.schema, names, strict=True)])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in iter_batches(reader):
            yield batch.rename_columns(names)

    return pa.RecordBatchReader.from_batches(schema, batches())
