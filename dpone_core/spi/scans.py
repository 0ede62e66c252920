"""A source's files read by the sink's own engine: the offer, the outcome and the refusals.

A sink whose engine reads Parquet itself (DuckDB's ``read_parquet``, on every core) need not take the
rows as one Python-fed Arrow stream: the source offers its files (:class:`FileScan`), the sink reads
them in its finalize's statements and runs the contract as SQL over the same scan. Whatever it
cannot do exactly as the Arrow path does, it refuses (:class:`ScanRefused`), and the runtime reads
as Arrow instead. See ``dpone_core/runtime/native_read.py``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

SCAN_LOCATION = "native"
"""``StagedLoad.location`` of a load staged as a sink's view over a :class:`FileScan`."""


@dataclass(frozen=True)
class FileScan:
    """A source's rows as files a sink's engine reads itself (the sink's ``reads_files`` capability).

    The source offers it only when the files are exactly what its Arrow read would stream: the same
    columns and types in every file (``schema``, as the Arrow read types them), nothing derived from
    a path, in the order it would read them.
    """

    format: str
    """``parquet``."""
    paths: tuple[str, ...]
    """Paths of ``filesystem`` (absolute for local files), in the order the Arrow read takes them (never empty)."""
    schema: pa.Schema
    """The columns the read returns, with the Arrow types the Arrow read gives them."""
    filesystem: pafs.FileSystem
    """Where the paths are: pyarrow's ``LocalFileSystem``, or an object store's (``S3FileSystem``)."""
    rows: int
    """Rows in the files, from their footers (what the Arrow read would extract)."""

    @property
    def local(self) -> bool:
        """The paths are files of this machine (an engine may open them by name)."""
        import pyarrow.fs as pafs

        return isinstance(self.filesystem, pafs.LocalFileSystem)


class ScanRefused(Exception):
    """A sink declined a :class:`FileScan`: its engine would read the files other than Arrow does, a rule
    has no exact SQL form, or a row needs the gates. Nothing is committed; the runtime reads as Arrow.
    """


class ScanViolation(ScanRefused):
    """A scanned row breaks the contract: the gates must judge it (or the sink splits it off, ``split``)."""


@dataclass
class ScannedRows:
    """What a sink found scanning a :class:`FileScan`: the rows, the rule failures and the rejected rows."""

    rows: int
    """Rows in the files (passed + rejected)."""
    failures: Counter[str] = field(default_factory=Counter)
    """Failing rows per contract rule id (only rules that failed)."""
    rejected_rows: int = 0
    rejected: pa.RecordBatchReader | None = None
    """The rejected rows with their original values and ``__dpone_reason``, in read order (``split``)."""
