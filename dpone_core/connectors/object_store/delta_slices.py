"""``partition_replace`` on a Delta table: the slices a load holds, as an overwrite predicate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from dpone_core.connectors.object_store.delta_sql import literal, quoted
from dpone_core.strategies.plan import PartitionSpec


@dataclass(frozen=True)
class SliceReplace:
    """The slices of ``column`` (at ``grain``) a load holds, and how to name them to delta-rs and pyarrow."""

    spec: PartitionSpec
    values: pa.Array
    """Distinct non-null slice values (floored to the grain)."""
    has_null: bool

    @classmethod
    def of(cls, spec: PartitionSpec, column: pa.ChunkedArray) -> SliceReplace:
        """The slices of the staged ``column``."""
        if spec.grain is not None:
            column = pc.floor_temporal(column, unit=spec.grain)
        distinct = pc.unique(column)
        return cls(spec, pc.drop_null(distinct), distinct.null_count > 0)

    def predicate(self) -> str:
        """The overwrite's ``replaceWhere``: rows in one of the slices, NULL slice included."""
        column = quoted(self.spec.column)
        expr = f"date_trunc('{self.spec.grain}', {column})" if self.spec.grain else column
        terms = []
        if len(self.values):
            terms.append(f"{expr} IN ({', '.join(literal(v) for v in self.values)})")
        if self.has_null:
            terms.append(f"{column} IS NULL")
        return " OR ".join(terms) if terms else "FALSE"

    def replaced_rows(self, dataset: ds.Dataset) -> int:
        """Rows of the current version in the slices (what the overwrite removes)."""
        field: Any = pc.field(self.spec.column)
        expr = pc.floor_temporal(field, unit=self.spec.grain) if self.spec.grain else field
        match = None
        if len(self.values):
            match = expr.isin(self.values)
        if self.has_null:
            match = field.is_null() if match is None else match | field.is_null()
        return 0 if match is None else int(dataset.count_rows(filter=match))
