"""The type compatibility gate: make every batch fit the (evolved) target column types.

Safe casts (the target is at least as wide) always pass. Casts the evolution gate routed to
quarantine are checked per row: values that do not fit go to quarantine with the reason; anything
else that does not fit fails the run before the target is touched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.errors import TypeCompatibilityError
from dpone_core.gates.contract import REASON_COLUMN, BatchVerdict
from dpone_core.gates.evolution import EvolutionPlan
from dpone_core.gates.types import NoConversion, cast_with_failures, same_logical_type


@dataclass
class CompatibilityGate:
    """Applies an :class:`EvolutionPlan` to batches."""

    plan: EvolutionPlan
    passthrough: dict[str, pa.DataType] = field(default_factory=dict)
    """Staged columns that are not stored in the target (a hard delete marker), with their type."""

    def output_schema(self, incoming: pa.Schema) -> pa.Schema:
        """Schema of conformed batches: incoming columns (minus ignored) with target types."""
        types = {**self.passthrough, **{c.name: c.type for c in self.plan.desired.columns}}
        # Types the engine stores alike (uuid/json vs text, string vs large_string) pass unchanged:
        # Arrow cannot cast some of them, and the database converts them on insert anyway.
        return pa.schema(
            [
                pa.field(f.name, f.type if same_logical_type(f.type, types[f.name]) else types[f.name], True)
                for f in incoming
                if f.name in types
            ]
        )

    def conform(self, batch: pa.RecordBatch, raw: pa.RecordBatch | None = None) -> BatchVerdict:
        """Cast ``batch`` to the target types; ``raw`` (same rows, original values) feeds quarantine."""
        schema = self.output_schema(batch.schema)
        failures: Counter[str] = Counter()
        bad = np.zeros(batch.num_rows, dtype=bool)
        reasons: dict[str, np.ndarray] = {}
        arrays = []
        for f in schema:
            column = batch.column(f.name)
            if column.type == f.type:
                arrays.append(column)
                continue
            try:
                converted, failed = cast_with_failures(column, f.type)
            except NoConversion as exc:
                raise TypeCompatibilityError(
                    f"column {f.name}: {exc}",
                    step="type_compatibility",
                    fix="cast the column in the source query, or set schema_evolution.type_changes",
                ) from None
            if failed.any():
                if not self.plan.quarantine_casts:
                    raise TypeCompatibilityError(
                        f"{int(failed.sum())} values of column {f.name} do not fit target type {f.type}",
                        step="type_compatibility",
                        fix="set schema_evolution.type_changes: quarantine, or widen the target column",
                    )
                rule = f"{f.name}.target_type"
                failures[rule] += int(failed.sum())
                reasons[rule] = failed
                bad |= failed
            arrays.append(converted)
        conformed = pa.RecordBatch.from_arrays(arrays, schema=schema)
        if not bad.any():
            return BatchVerdict(conformed, None, failures)
        source = raw if raw is not None else batch
        rejected = source.filter(pa.array(bad))
        texts = [
            pc.if_else(
                pa.array(mask[bad]),
                pa.scalar(f"{rule}: does not fit the target column type"),
                pa.nulls(int(bad.sum()), pa.string()),
            )
            for rule, mask in reasons.items()
        ]
        reason = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "; ", null_handling="skip")
        return BatchVerdict(conformed.filter(pa.array(~bad)), rejected.append_column(REASON_COLUMN, reason), failures)
