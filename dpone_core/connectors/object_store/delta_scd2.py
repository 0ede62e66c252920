"""scd2 on a Delta table: one merge closes the changed keys' current versions and inserts new ones.

The merge source carries every staged row with a copy of its key, which meets the key's current
version: the merge closes that version when a column differs (or the row carries the delete
marker), and inserts the row when the key is new. The rows of changed keys come a second time
with a NULL key copy, so they meet nothing and are inserted as the new current versions. Both
halves are one Delta commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from dpone_core.connectors.object_store.delta_merge import column_names, duck_count, unmarked
from dpone_core.connectors.object_store.delta_sql import changed, key_match, marked, quoted
from dpone_core.connectors.object_store.table_files import in_file_order
from dpone_core.model import StrategyCounts
from dpone_core.strategies.plan import LoadPlan, Scd2Spec

KEY_COPY = "__dpone_key_"
"""Prefix of the merge source's key copies (never written to the table)."""
HISTORY_TYPE = pa.timestamp("us", tz="UTC")


@dataclass
class Scd2Merge:
    """The scd2 merge of ``staged`` into the Delta table ``target`` (None before the first load)."""

    staged: ds.FileSystemDataset
    target: Any
    plan: LoadPlan
    scratch: Path
    """A folder of the load's staging (for the changed rows)."""

    @property
    def spec(self) -> Scd2Spec:
        """The history column names."""
        assert self.plan.scd2 is not None
        return self.plan.scd2

    @property
    def history(self) -> tuple[str, str, str]:
        """valid_from, valid_to, is_current."""
        return (self.spec.valid_from, self.spec.valid_to, self.spec.is_current)

    @property
    def _marked(self) -> str:
        marker = self.plan.delete_marker
        return marked(marker.column if marker else None)

    def _meets_current(self) -> str:
        on = key_match(self.plan.primary_key, "s", "t")
        return f"{on} AND t.{quoted(self.spec.is_current)}"

    def _changed_sql(self, select: str) -> str:
        """Staged rows (not marked) whose key's current version differs."""
        diff = changed(self.plan.compare_columns, column_names(self.target))
        return f"SELECT {select} FROM s JOIN t ON {self._meets_current()} WHERE NOT {self._marked} AND {diff}"

    def counts(self) -> StrategyCounts:
        """Versions the merge closes (updated, deleted) and inserts (new keys and changed ones)."""
        if self.target is None:
            return StrategyCounts(
                inserted=duck_count(f"SELECT count(*) FROM s WHERE NOT {self._marked}", s=self.staged)
            )
        tables = {"s": self.staged, "t": self.target.to_pyarrow_dataset()}
        current = f"EXISTS (SELECT 1 FROM t WHERE {self._meets_current()})"
        new = duck_count(f"SELECT count(*) FROM s WHERE NOT {self._marked} AND NOT {current}", **tables)
        closed = duck_count(f"SELECT count(*) FROM s WHERE {self._marked} AND {current}", **tables)
        updated = duck_count(self._changed_sql("count(*)"), **tables)
        return StrategyCounts(inserted=new + updated, updated=updated, deleted=closed)

    # ---- the merge source --------------------------------------------------------------------
    def _stored(self) -> list[pa.Field]:
        """Staged columns the table keeps (a delete marker is not kept)."""
        return [self.staged.schema.field(c) for c in self.plan.target_columns]

    def _source_schema(self, with_keys: bool) -> pa.Schema:
        fields = [
            *(self.staged.schema if with_keys else self._stored()),
            pa.field(self.spec.valid_from, HISTORY_TYPE, False),
            pa.field(self.spec.valid_to, HISTORY_TYPE, True),
            pa.field(self.spec.is_current, pa.bool_(), False),
        ]
        if with_keys:
            key = self.plan.primary_key
            fields += [pa.field(f"{KEY_COPY}{i}", self.staged.schema.field(k).type) for i, k in enumerate(key)]
        return pa.schema(fields)

    def _versions(self, batch: pa.RecordBatch, schema: pa.Schema, keyed: bool | None) -> pa.RecordBatch:
        """``batch`` as new current versions; ``keyed`` adds the key copies (None: no copies at all)."""
        n = batch.num_rows
        columns = batch.schema.names if keyed is not None else list(self.plan.target_columns)
        arrays = [
            *(batch.column(c) for c in columns),
            pa.repeat(pa.scalar(self.plan.load_time, HISTORY_TYPE), n),
            pa.nulls(n, HISTORY_TYPE),
            pa.repeat(pa.scalar(True), n),
        ]
        if keyed is not None:
            for k in self.plan.primary_key:
                arrays.append(batch.column(k) if keyed else pa.nulls(n, batch.schema.field(k).type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def first_versions(self) -> pa.RecordBatchReader:
        """Every staged row not marked deleted as a current version (the table's first load)."""
        schema = self._source_schema(with_keys=False)
        rows = in_file_order(self.staged, keep=self._unmarked_filter())
        return pa.RecordBatchReader.from_batches(schema, (self._versions(b, schema, None) for b in rows))

    def _unmarked_filter(self) -> ds.Expression | None:
        marker = self.plan.delete_marker
        return None if marker is None else unmarked(marker.column)

    def _stage_changed(self) -> ds.FileSystemDataset:
        """The staged rows of changed keys, written next to the staging files before the merge starts.

        The merge pulls its source on delta-rs's own threads, where reading the table again (as
        the join with it does) would re-enter delta-rs's runtime and abort; so the join runs first.
        """
        import duckdb

        path = self.scratch / "changed.parquet"
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("s", self.staged)
            con.register("t", self.target.to_pyarrow_dataset())
            con.sql(self._changed_sql("s.*")).write_parquet(str(path))
        return ds.dataset(str(path), format="parquet")

    def _source_batches(self, schema: pa.Schema, again: ds.FileSystemDataset) -> Iterator[pa.RecordBatch]:
        for batch in in_file_order(self.staged):
            yield self._versions(batch, schema, True)
        for batch in in_file_order(again):
            yield self._versions(batch.cast(self.staged.schema), schema, False)

    # ---- the merge ---------------------------------------------------------------------------
    def add_new_columns(self) -> None:
        """Add staged columns the table lacks, in a commit of their own before the merge.

        delta-rs's ``merge_schema`` fills a new column of every version the merge meets, closed
        ones included, from the source row: history would change. Added first, they stay NULL there.
        """
        from deltalake import Schema

        known = column_names(self.target)
        new = [f.with_nullable(True) for f in self._stored() if f.name not in known]
        if new:
            self.target.alter.add_columns(list(Schema.from_arrow(pa.schema(new)).fields))

    def execute(self, options: dict[str, Any]) -> None:
        """Run the merge with ``options`` (delta-rs's commit and writer properties: dpone's records)."""
        plan, spec = self.plan, self.spec
        schema = self._source_schema(with_keys=True)
        source = pa.RecordBatchReader.from_batches(schema, self._source_batches(schema, self._stage_changed()))
        copies = [f"{KEY_COPY}{i}" for i in range(len(plan.primary_key))]
        on = f"{key_match(plan.primary_key, 't', 's', copies)} AND t.{quoted(spec.is_current)}"
        merger = self.target.merge(source, on, source_alias="s", target_alias="t", **options)
        closing = {quoted(spec.valid_to): f"s.{quoted(spec.valid_from)}", quoted(spec.is_current): "FALSE"}
        if plan.delete_marker is not None:
            merger = merger.when_matched_update(updates=closing, predicate=self._marked)
        if plan.compare_columns:
            diff = changed(plan.compare_columns, column_names(self.target))
            merger = merger.when_matched_update(updates=closing, predicate=f"NOT {self._marked} AND {diff}")
        values = {quoted(c): f"s.{quoted(c)}" for c in [*plan.target_columns, *self.history]}
        merger.when_not_matched_insert(updates=values, predicate=f"NOT {self._marked}").execute()
