"""A load between staging and commit: what was staged, and what the strategy changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class StagedLoad:
    """Rows bulk-loaded into staging and not yet visible in the target."""

    load_id: str
    location: str
    rows: int
    schema: pa.Schema
    """Schema of the staged data columns (without the sequence column)."""
    handle: Any = None
    """The sink's own reference to its staging (a TableRef, a folder); only that sink reads it."""


@dataclass
class StrategyCounts:
    """Rows the strategy changed in the target."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    details: dict[str, int] = field(default_factory=dict)
