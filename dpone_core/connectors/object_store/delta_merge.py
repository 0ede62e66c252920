"""merge on a Delta table: one delta-rs merge on the primary key, touching only rows that changed.

As on the database sinks, a matched row is rewritten only when a compared column differs (so a
re-run of the same rows changes nothing), a hard delete marker removes the matched row and is not
stored, and a soft one is stored like any column. The counts are taken before the merge with
DuckDB over the staged files and the table's current files, with the same conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from dpone_core.connectors.object_store.delta_sql import changed, key_match, marked, quoted
from dpone_core.model import StrategyCounts
from dpone_core.strategies.plan import LoadPlan


def duck_count(sql: str, **tables: Any) -> int:
    """``SELECT count(*)`` of ``sql`` over Arrow tables or datasets registered under their names."""
    import duckdb

    with duckdb.connect() as con:
        for name, data in tables.items():
            con.register(name, data)
        found = con.execute(sql).fetchone()
    return int(found[0]) if found else 0


def unmarked(column: str) -> ds.Expression:
    """Rows without the delete marker set (NULL counts as not set), as a dataset filter."""
    return ds.field(column).is_null() | ~ds.field(column)


def column_names(table: Any) -> set[str]:
    """The columns of a Delta table (none before its first load)."""
    return {f.name for f in pa.schema(table.schema())} if table is not None else set()


@dataclass
class DeltaMerge:
    """The merge of ``staged`` into the Delta table ``target`` on the plan's primary key."""

    staged: ds.Dataset
    target: Any
    plan: LoadPlan

    @property
    def _marker(self) -> tuple[str | None, bool]:
        """The delete marker column and whether it is hard."""
        marker = self.plan.delete_marker
        return (marker.column, marker.mode == "hard") if marker else (None, False)

    def counts(self) -> StrategyCounts:
        """Rows the merge will insert, update and delete."""
        column, hard = self._marker
        on, m = key_match(self.plan.primary_key, "s", "t"), marked(column)
        diff = changed(self.plan.compare_columns, column_names(self.target))
        tables = {"s": self.staged, "t": self.target.to_pyarrow_dataset()}
        exists = f"EXISTS (SELECT 1 FROM t WHERE {on})"
        updated = duck_count(f"SELECT count(*) FROM s JOIN t ON {on} WHERE NOT {m} AND {diff}", **tables)
        new = f"SELECT count(*) FROM s WHERE NOT {exists}" + (f" AND NOT {m}" if hard else "")
        if hard:
            deleted = duck_count(f"SELECT count(*) FROM s WHERE {m} AND {exists}", **tables)
        else:
            deleted = duck_count(f"SELECT count(*) FROM s JOIN t ON {on} WHERE {m} AND {diff}", **tables)
        return StrategyCounts(inserted=duck_count(new, **tables), updated=updated, deleted=deleted)

    def execute(self, source: pa.RecordBatchReader, options: dict[str, Any]) -> None:
        """Run the merge of ``source`` (the staged rows) with ``options`` (delta-rs's commit and writer properties)."""
        plan = self.plan
        column, hard = self._marker
        m = marked(column)
        # New columns are added by merge_schema; until then the table has no such column to compare.
        diff = changed(plan.compare_columns, column_names(self.target))
        values = {quoted(c): f"s.{quoted(c)}" for c in plan.target_columns}
        merger = self.target.merge(
            source, key_match(plan.primary_key, "t", "s"), source_alias="s", target_alias="t",
            merge_schema=True, **options,
        )  # fmt: skip
        if hard:
            merger = merger.when_matched_delete(predicate=m)
        if plan.compare_columns:
            merger = merger.when_matched_update(updates=values, predicate=f"NOT {m} AND {diff}" if hard else diff)
        merger.when_not_matched_insert(updates=values, predicate=f"NOT {m}" if hard else None).execute()
