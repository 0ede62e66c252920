"""The schema evolution gate: compare the incoming schema with the target and decide, before any write.

Pure decisions over schemas (no I/O): which columns to add, ignore or keep, which types to widen,
which values need a per-row cast, and what is blocked. The physical DDL gate turns the decision
into DDL; the compatibility gate applies the casts to batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from dpone_core.gates.types import same_logical_type, widens
from dpone_core.manifest.contract import SchemaEvolution
from dpone_core.model import TargetColumn, TargetSchema


@dataclass(frozen=True)
class Decision:
    """One verdict of the gate (for the report and evidence)."""

    rule: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class EvolutionPlan:
    """The target as it must look after DDL, and how incoming batches map onto it."""

    desired: TargetSchema
    creates_table: bool
    added: tuple[str, ...] = ()
    widened: tuple[tuple[str, pa.DataType, pa.DataType], ...] = ()
    ignored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    casts: dict[str, pa.DataType] = field(default_factory=dict)
    quarantine_casts: bool = False
    blocked: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()


def _normalise(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_unsigned_integer(t) and t.bit_width < 64:
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}[t.bit_width]
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_dictionary(t):
        return _normalise(t.value_type)
    if pa.types.is_null(t):
        return pa.string()
    return t


def plan_evolution(
    incoming: pa.Schema,
    current: TargetSchema | None,
    policy: SchemaEvolution,
    *,
    primary_key: tuple[str, ...] = (),
    not_null: frozenset[str] = frozenset(),
    managed_columns: tuple[TargetColumn, ...] = (),
    excluded: frozenset[str] = frozenset(),
) -> EvolutionPlan:
    """Decide how ``incoming`` lands in ``current`` (None: the table will be created).

    ``managed_columns`` are columns dpone maintains itself (scd2 history); ``excluded`` are incoming
    columns never stored (a hard delete marker).
    """
    fields = [f for f in incoming if f.name not in excluded]
    if current is None:
        columns = (
            tuple(
                TargetColumn(f.name, _normalise(f.type), f.name not in not_null and f.name not in primary_key)
                for f in fields
            )
            + managed_columns
        )
        return EvolutionPlan(
            desired=TargetSchema(columns, _target_key(primary_key, managed_columns) if primary_key else ()),
            creates_table=True,
            decisions=(Decision("create_table", "applied", f"{len(columns)} columns"),),
        )

    decisions: list[Decision] = []
    blocked: list[str] = []
    added: list[TargetColumn] = []
    ignored: list[str] = []
    widened: list[tuple[str, pa.DataType, pa.DataType]] = []
    casts: dict[str, pa.DataType] = {}
    new_types: dict[str, pa.DataType] = {}
    managed = {c.name for c in managed_columns}

    if primary_key and current.primary_key and tuple(current.primary_key) != _target_key(primary_key, managed_columns):
        blocked.append(
            f"target primary key ({', '.join(current.primary_key)}) differs from the manifest's "
            f"({', '.join(primary_key)})"
        )
    for f in fields:
        existing = current.column(f.name)
        incoming_type = _normalise(f.type)
        if existing is None:
            if policy.new_columns == "add":
                added.append(TargetColumn(f.name, incoming_type, True))
                decisions.append(Decision("new_columns", "applied", f"add {f.name} {incoming_type}"))
            elif policy.new_columns == "ignore":
                ignored.append(f.name)
                decisions.append(Decision("new_columns", "skipped", f"ignore {f.name}"))
            else:
                blocked.append(f"new source column {f.name} ({incoming_type}) and new_columns: fail")
            continue
        target_type = existing.type
        if same_logical_type(incoming_type, target_type):
            continue
        if widens(incoming_type, target_type):
            casts[f.name] = target_type
            continue
        if widens(target_type, incoming_type) and policy.type_changes == "widen_only":
            widened.append((f.name, target_type, incoming_type))
            new_types[f.name] = incoming_type
            decisions.append(Decision("type_changes", "applied", f"widen {f.name} {target_type} -> {incoming_type}"))
            continue
        if policy.type_changes == "quarantine":
            casts[f.name] = target_type
            decisions.append(Decision("type_changes", "quarantined", f"cast {f.name} {incoming_type} -> {target_type}"))
            continue
        blocked.append(
            f"column {f.name} changed type {target_type} -> {incoming_type}, which is not a widening"
            if policy.type_changes == "widen_only"
            else f"column {f.name} changed type {target_type} -> {incoming_type} and type_changes: fail"
        )

    incoming_names = {f.name for f in fields} | set(excluded)
    missing = [c.name for c in current.columns if c.name not in incoming_names and c.name not in managed]
    for name in missing:
        column = current.column(name)
        if policy.removed_columns == "fail":
            blocked.append(f"target column {name} is missing from the source and removed_columns: fail")
        elif column is not None and not column.nullable:
            blocked.append(f"target column {name} is NOT NULL but the source no longer provides it")
        else:
            decisions.append(Decision("removed_columns", "skipped", f"keep {name} (loaded as NULL)"))

    desired_columns = tuple(
        TargetColumn(c.name, new_types.get(c.name, c.type), c.nullable) for c in current.columns
    ) + tuple(added)
    for reason in blocked:
        decisions.append(Decision("schema_evolution", "failed", reason))
    return EvolutionPlan(
        desired=TargetSchema(desired_columns, current.primary_key),
        creates_table=False,
        added=tuple(c.name for c in added),
        widened=tuple(widened),
        ignored=tuple(ignored),
        missing=tuple(missing),
        casts=casts,
        quarantine_casts=policy.type_changes == "quarantine",
        blocked=tuple(blocked),
        decisions=tuple(decisions),
    )


def _target_key(primary_key: tuple[str, ...], managed: tuple[TargetColumn, ...]) -> tuple[str, ...]:
    """The key a target created by dpone has: scd2 tables add valid_from to the business key."""
    history = [c.name for c in managed]
    return tuple(primary_key) + ((history[0],) if history else ())
