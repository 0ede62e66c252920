"""``source.options`` and ``sink.options`` of the files and S3 connectors."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from dpone_core.manifest.process import parse_duration_seconds
from dpone_core.model.strict import StrictModel


class FileSourceOptions(StrictModel):
    """How a set of files is read, beyond its format."""

    hive_partitions: bool = Field(
        False,
        description="Read name=value folders of each file's path (events/date=2024-01-02/...) as string "
        "columns after the file's own.",
    )


class TableSinkOptions(StrictModel):
    """``sink.options`` of a Parquet table on a folder or bucket."""

    gc_grace: str = Field(
        "24h",
        description="How long data files no version names are kept before a load removes them (a killed "
        "load's files, files a full_refresh replaced). Longer than your longest load and your slowest reader.",
    )

    @field_validator("gc_grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_seconds(value)
        return value

    def grace(self) -> timedelta:
        """``gc_grace`` as a duration."""
        return timedelta(seconds=parse_duration_seconds(self.gc_grace))
