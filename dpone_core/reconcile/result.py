"""What a reconciliation found: counts, checksums, listed differences and the repair actions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dpone_core.reconcile.dialects import NULL_TEXT

INSERT, UPDATE, DELETE = "insert_target_row", "update_target_row", "delete_target_row"
"""The repair actions."""


def shown(text: str) -> str | None:
    """A normalised text as reports show it (the NULL marker as null)."""
    return None if text == NULL_TEXT else text


@dataclass(frozen=True)
class RepairAction:
    """One row the target needs: inserted or updated to the source's values, or deleted."""

    action: str
    key: dict[str, str | None]
    """The key as normalised text, per key column."""
    columns: tuple[str, ...] = ()
    """For an update: the columns that differ."""
    values: dict[str, str | None] | None = None
    """The source's normalised values (insert, update); None for a delete."""
    reason: str = ""
    """``missing``, ``mismatch``, ``deleted_in_source`` (delete marker) or ``extra`` (not in the source)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass
class ReconcileResult:
    """The outcome of one comparison; red when any row is missing, extra or different."""

    source: str
    target: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    mode: str
    source_rows: int = 0
    target_rows: int = 0
    missing_count: int = 0
    extra_count: int = 0
    mismatch_count: int = 0
    delete_count: int = 0
    """Source rows marked deleted (``delete_column``); those still in the target are also extra."""
    source_checksum: str = ""
    target_checksum: str = ""
    mismatched_columns: dict[str, int] = field(default_factory=dict)
    actions: list[RepairAction] = field(default_factory=list)
    """Every repair action, up to ``max_actions``; ``actions_complete`` is False past that."""
    actions_complete: bool = True
    stats: dict[str, int] = field(default_factory=dict)
    """segments_compared, segments_differing, segments_fetched, rows_fetched, levels, queries."""

    @property
    def passed(self) -> bool:
        """Green: nothing missing, extra or different."""
        return not (self.missing_count or self.extra_count or self.mismatch_count)

    @property
    def difference_count(self) -> int:
        """Rows that differ in any way."""
        return self.missing_count + self.extra_count + self.mismatch_count

    def blockers(self) -> list[str]:
        """One line per kind of difference (empty when green)."""
        found = []
        if self.missing_count:
            found.append(f"{self.missing_count} source row(s) missing from the target")
        if self.extra_count:
            found.append(f"{self.extra_count} target row(s) not in the source (or deleted there)")
        if self.mismatch_count:
            columns = ", ".join(f"{c} ({n})" for c, n in sorted(self.mismatched_columns.items()))
            found.append(f"{self.mismatch_count} row(s) differ: {columns}")
        return found

    def to_dict(self, max_listed: int = 100) -> dict[str, Any]:
        """JSON form, listing at most ``max_listed`` actions (their total is always given)."""
        return {
            "source": self.source,
            "target": self.target,
            "key": list(self.key),
            "compare_columns": list(self.columns),
            "mode": self.mode,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "missing_count": self.missing_count,
            "extra_count": self.extra_count,
            "mismatch_count": self.mismatch_count,
            "delete_count": self.delete_count,
            "source_checksum": self.source_checksum,
            "target_checksum": self.target_checksum,
            "checksums_match": self.source_checksum == self.target_checksum,
            "mismatched_columns": dict(sorted(self.mismatched_columns.items())),
            "repair_action_count": len(self.actions),
            "repair_actions_complete": self.actions_complete,
            "repair_actions": [a.to_dict() for a in self.actions[:max_listed]],
            "repair_actions_listed": min(len(self.actions), max_listed),
            "stats": dict(self.stats),
        }
