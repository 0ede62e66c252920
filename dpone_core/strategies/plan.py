"""Dialect-neutral write plans: what a strategy does, independent of the SQL that does it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dpone_core.model import TableRef


@dataclass(frozen=True)
class DeleteMarkerSpec:
    """A staged boolean column that marks deletes; ``hard`` removes rows, ``soft`` keeps them flagged."""

    column: str
    mode: str


@dataclass(frozen=True)
class Scd2Spec:
    """Names of the scd2 history columns on the target."""

    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"


@dataclass(frozen=True)
class PartitionSpec:
    """The column whose slices ``partition_replace`` replaces, and its time grain if any."""

    column: str
    grain: str | None = None


@dataclass(frozen=True)
class LoadPlan:
    """Everything a sink needs to move staged rows into the target, for any dialect."""

    strategy: str
    target: TableRef
    staging: TableRef
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    delete_marker: DeleteMarkerSpec | None = None
    scd2: Scd2Spec | None = None
    partition: PartitionSpec | None = None
    load_time: datetime | None = None
    target_empty: bool = False
    """The target was created by this load, so key lookups against it can be skipped."""
    casts: Mapping[str, str] = field(default_factory=dict)
    """Target columns whose staged values need an explicit cast, to the type SQL given (from the catalog)."""

    @property
    def target_columns(self) -> tuple[str, ...]:
        """Staged columns that are written to the target (a hard delete marker is not stored)."""
        marker = self.delete_marker
        if marker is not None and (marker.mode == "hard" or self.strategy == "scd2"):
            return tuple(c for c in self.columns if c != marker.column)
        return self.columns

    @property
    def compare_columns(self) -> tuple[str, ...]:
        """Non-key columns whose change makes a row count as updated."""
        return tuple(c for c in self.target_columns if c not in self.primary_key)
