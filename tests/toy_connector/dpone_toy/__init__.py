"""A toy dpone connector: a source of ``rows`` generated rows (``id``, ``word``), found by its entry point.

It lives outside dpone's own packages on purpose: ``docs/connectors/writing-a-connector.md`` walks
through it, and dpone's tests install it as a separate distribution and run a load through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pyarrow as pa
from pydantic import Field

from dpone_core.model import LineageDataset, ReadRequest
from dpone_core.spi import (
    Capabilities,
    ConnectionProfile,
    ConnectorSpec,
    DatasetRequest,
    SourceBase,
    SourceRequest,
    StrictModel,
)

WORDS = ("alpha", "beta", "gamma", "delta")


class ToyProfile(ConnectionProfile):
    """A generator of rows (nothing to connect to)."""

    type: Literal["toy"]
    rows: int = Field(10, ge=0, description="How many rows the source yields.")
    fail_after: int | None = Field(None, ge=0, description="Raise an unexpected error after this many rows.")


class ToySourceOptions(StrictModel):
    """The toy source's own settings, under ``source.options``."""

    uppercase: bool = Field(False, description="Yield the words in upper case.")


class ToySource(SourceBase):
    """Yields ``id`` 0..rows-1 and a ``word``, in batches of the requested size."""

    def __init__(self, profile: ToyProfile, options: ToySourceOptions) -> None:
        super().__init__()
        self.profile, self.options = profile, options

    def describe(self) -> str:
        """``toy:<n> rows``."""
        return f"toy:{self.profile.rows} rows"

    def lineage_name(self) -> tuple[str, str]:
        """Namespace ``toy``, name ``rows``."""
        return "toy", "rows"

    def read(self, request: ReadRequest) -> pa.RecordBatchReader:
        """The rows as a stream (no row exists before a batch is pulled)."""
        schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("word", pa.string())])
        columns = list(request.columns) if request.columns else schema.names
        projected = pa.schema([schema.field(c) for c in columns])
        return pa.RecordBatchReader.from_batches(projected, self._batches(columns, request.batch_rows))

    def _batches(self, columns: list[str], size: int) -> Iterator[pa.RecordBatch]:
        for start in range(0, self.profile.rows, size):
            if self.profile.fail_after is not None and start >= self.profile.fail_after:
                raise RuntimeError("the toy source was told to fail")
            ids = list(range(start, min(start + size, self.profile.rows)))
            words = [WORDS[i % len(WORDS)] for i in ids]
            if self.options.uppercase:
                words = [w.upper() for w in words]
            data = {"id": pa.array(ids, pa.int64()), "word": pa.array(words)}
            yield pa.RecordBatch.from_pydict({c: data[c] for c in columns})

    def close(self) -> None:
        """Nothing to release."""


def _open_source(request: SourceRequest) -> ToySource:
    assert isinstance(request.profile, ToyProfile) and isinstance(request.options, ToySourceOptions)
    return ToySource(request.profile, request.options)


def _lineage(request: DatasetRequest) -> LineageDataset:
    return LineageDataset("toy", "rows", "toy")


SPEC = ConnectorSpec(
    name="toy",
    profile=ToyProfile,
    summary="a toy source of generated rows (the connector-writing example)",
    capabilities=Capabilities(source=True),
    open_source=_open_source,
    source_options=ToySourceOptions,
    lineage=_lineage,
)
