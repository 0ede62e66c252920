"""``source.options`` of the files and S3 connectors."""

from __future__ import annotations

from pydantic import Field

from dpone_core.model.strict import StrictModel


class FileSourceOptions(StrictModel):
    """How a set of files is read, beyond its format."""

    hive_partitions: bool = Field(
        False,
        description="Read name=value folders of each file's path (events/date=2024-01-02/...) as string "
        "columns after the file's own.",
    )
