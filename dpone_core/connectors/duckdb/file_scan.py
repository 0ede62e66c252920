"""DuckDB reads a source's Parquet files itself; the contract runs as SQL over the same scan.

The Arrow path feeds every row through one Python producer (read, then the gates, on one
thread); ``read_parquet`` reads on every core. So for a :class:`~dpone_core.spi.ports.FileScan`
the staging is a TEMP view over ``read_parquet`` that the finalize's strategy reads, and the
contract (:mod:`.contract_sql`) is a condition on that scan. Files of an object store (S3) are
read by pyarrow through the store's own filesystem (no DuckDB extension such as httpfs, no second
set of credentials) as a stream DuckDB pulls, batch by batch, and can scan again
(:class:`StoreFiles`).

* guarded (no quarantine expected): each statement reading the view raises on the first row that
  breaks a rule (``error()`` inside a ``CASE``), which :class:`ScanViolation` reports; the scan costs
  nothing beyond the strategy's own reads.
* split (quarantine): one aggregate counts each rule's failures, the view keeps ``WHERE NOT`` the
  failures, and the rejected rows are read back, with the gate's reasons, for the quarantine file.

Before any of it the scan must read as Arrow does: the DuckDB types of ``read_parquet`` must be
those DuckDB gives the Arrow read's schema (else the two would store different values), and text
must compare byte by byte (no default collation). Otherwise :class:`ScanRefused`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from dpone_core.connectors.duckdb.contract_sql import RuleTerm, is_integer, rule_terms
from dpone_core.errors import DponeError
from dpone_core.gates.contract import REASON_COLUMN, ContractGate
from dpone_core.model import empty_batch
from dpone_core.spi.ports import FileScan, ScannedRows, ScanRefused

if TYPE_CHECKING:
    from dpone_core.connectors.duckdb.sink import DuckDBSink

GUARD = "dpone: a scanned row breaks the data contract"
"""The message of the guard's ``error()``, recognised by the sink's error translation."""
_TYPES_PROBE = "__dpone_scan_types"
_REJECTED_BATCH_ROWS = 65_536


def scan_files(
    sink: DuckDBSink,
    name: str,
    scan: FileScan,
    contract: ContractGate,
    *,
    split: bool,
    unique: Sequence[tuple[str, ...]],
) -> ScannedRows:
    """Create the TEMP view ``name`` over ``scan`` with the contract's terms (see the module docstring)."""
    if scan.format != "parquet" or not scan.paths:
        raise ScanRefused(f"DuckDB reads no {scan.format} scan here")
    d = sink.dialect
    sink.defer_key = False
    columns = d.column_list(scan.schema.names)
    try:
        source = _files_source(sink, name, scan)
        types = _same_types(sink, source, columns, scan.schema)
        terms = rule_terms(contract, scan.schema, types)
        broken = " OR ".join(t.sql for t in terms)
        found = ScannedRows(scan.rows)
        where = ""
        if broken and split:
            found.failures, found.rejected_rows = _count_failures(sink, source, terms)
            where = f" WHERE NOT ({broken})" if found.rejected_rows else ""
        elif broken:
            where = f" WHERE CASE WHEN {broken} THEN error({d.literal(GUARD)}) ELSE TRUE END"
        sink.con.execute(f"CREATE OR REPLACE TEMP VIEW {d.quote(name)} AS SELECT {columns} FROM {source}{where}")
        for key in unique:
            _require_unique(sink, name, scan, key, types, found.rows - found.rejected_rows)
        new = sink.new_table
        # A new table's key proved unique by its rise through the files may be added after the rows,
        # unless the profile sets a memory ceiling: building the index at once takes more memory.
        sink.defer_key = new is not None and sink.memory_limit is None and _rising_key(scan, new.key, types)
        if found.rejected_rows:
            reasons = ", ".join(f"CASE WHEN {t.sql} THEN {d.literal(t.reason)} END" for t in terms)
            found.rejected = sink.con.sql(
                f"SELECT {columns}, concat_ws('; ', {reasons}) AS {d.quote(REASON_COLUMN)} FROM {source} WHERE {broken}"
            ).to_arrow_reader(_REJECTED_BATCH_ROWS)
    except duckdb.Error as exc:
        raise _refusal(sink, exc) from None
    except (pa.ArrowException, OSError) as exc:  # a file the key check reads fails: the Arrow read reports it
        raise ScanRefused(f"the files cannot be scanned: {str(exc).splitlines()[0]}") from None
    return found


def files_name(name: str) -> str:
    """The name a store's files are registered under for the view ``name`` (unregistered with it)."""
    return name + "__files"


def _files_source(sink: DuckDBSink, name: str, scan: FileScan) -> str:
    """The FROM item the view reads the files through: ``read_parquet`` of local files, else a stream."""
    d = sink.dialect
    if scan.local:
        return "read_parquet([" + ", ".join(d.literal(p) for p in scan.paths) + "])"
    sink.con.register(files_name(name), StoreFiles(scan))
    return d.quote(files_name(name))


class StoreFiles:
    """A store's Parquet files as an Arrow stream that DuckDB may scan any number of times.

    Each scan (DuckDB asks once per statement, and when it binds one) gets a new reader that opens
    the files one after another and decodes a batch when DuckDB pulls it, so memory holds a row
    group per file being read, whatever the files' size. A ``pyarrow.dataset`` registered instead
    reads ahead of DuckDB without bound: peak RSS grew 1.9x from 1M to 5M rows and, on two busy
    cores, its read-ahead threads made the load slower, not faster.
    """

    batch_rows = 16_384
    """Rows per batch handed to DuckDB. With 65,536 a full_refresh from S3 peaked at 323-348 MB at 1M
    rows and 424-435 MB at 5M (1.2-1.35x); with 16,384 at 288-294 MB and 323-330 MB (1.12x), as fast."""

    def __init__(self, scan: FileScan) -> None:
        self.scan = scan

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """A fresh stream over every file, in the scan's order (the Arrow PyCapsule interface)."""
        reader = pa.RecordBatchReader.from_batches(self.scan.schema, self._batches())
        return reader.__arrow_c_stream__(requested_schema)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        columns = self.scan.schema.names
        for path in self.scan.paths:
            with self.scan.filesystem.open_input_file(path) as handle:
                yield from pq.ParquetFile(handle, pre_buffer=True).iter_batches(
                    batch_size=self.batch_rows, columns=columns, use_threads=True
                )


def _refusal(sink: DuckDBSink, exc: duckdb.Error) -> Exception:
    """A guard that fired, a DuckDB limit (memory) as its dpone error, or else a refusal (Arrow reports)."""
    translated = sink.translate_error(exc, "stage")
    if isinstance(translated, ScanRefused | DponeError):
        return translated
    return ScanRefused(f"DuckDB cannot read the files as Arrow does: {str(exc).splitlines()[0]}")


def _same_types(sink: DuckDBSink, source: str, columns: str, schema: pa.Schema) -> dict[str, str]:
    """The scan's DuckDB column types, which must be those of the Arrow read's columns in DuckDB."""
    if sink.query("SELECT current_setting('default_collation')")[0][0]:
        raise ScanRefused("a default collation orders text other than Arrow")
    scanned = [(str(r[0]), str(r[1])) for r in sink.query(f"DESCRIBE SELECT {columns} FROM {source}")]
    sink.con.register(_TYPES_PROBE, empty_batch(schema))
    try:
        arrow = [(str(r[0]), str(r[1])) for r in sink.query(f"DESCRIBE SELECT {columns} FROM {_TYPES_PROBE}")]
    finally:
        sink.con.unregister(_TYPES_PROBE)
    if scanned != arrow:
        raise ScanRefused("DuckDB types the files' columns other than the Arrow read does")
    return dict(scanned)


def _count_failures(sink: DuckDBSink, source: str, terms: list[RuleTerm]) -> tuple[Counter[str], int]:
    """Failing rows per rule (only rules that failed) and rows failing any rule, in one scan."""
    counts = ", ".join(f"count_if({t.sql})" for t in terms)
    row = sink.query(f"SELECT {counts}, count_if({' OR '.join(t.sql for t in terms)}) FROM {source}")[0]
    failures: Counter[str] = Counter()
    for term, count in zip(terms, row, strict=False):
        if count:
            failures[term.rule] += int(count)
    return failures, int(row[-1])


def _require_unique(
    sink: DuckDBSink, name: str, scan: FileScan, key: tuple[str, ...], types: dict[str, str], rows: int
) -> None:
    """No two rows of the view share ``key`` (NULLs alike, as the staged check counts them); else refuse.

    An integer key that rises strictly through the files (an export in key order) is unique without
    a hash of every key: reading that one column costs a few milliseconds per million rows.
    """
    if _rising_key(scan, key, types):
        return
    keys = sink.dialect.column_list(key)
    distinct = sink.query(f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {sink.dialect.quote(name)})")[0][0]
    if int(distinct) != rows:
        raise ScanRefused(f"a key ({', '.join(key)}) repeats within the files")


def _rising_key(scan: FileScan, key: tuple[str, ...], types: dict[str, str]) -> bool:
    """``key`` is one integer column that rises strictly through the files (so it repeats nowhere)."""
    return len(key) == 1 and key[0] in types and is_integer(types[key[0]]) and _rises(scan, key[0])


def _rises(scan: FileScan, column: str) -> bool:
    """The integer ``column`` has no NULL and rises strictly from the first file's first row to the last's.

    Batch by batch (bounded memory); the first batch that does not rise ends it.
    """
    import pyarrow.parquet as pq

    last: int | None = None
    for path in scan.paths:
        with scan.filesystem.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=1 << 20, columns=[column]):
                values = batch.column(0)
                if values.null_count:
                    return False
                if not len(values):
                    continue
                array = values.to_numpy()
                if (last is not None and array[0] <= last) or not bool((array[1:] > array[:-1]).all()):
                    return False
                last = int(array[-1])
    return True
