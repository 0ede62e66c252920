"""Schema evolution decisions (pure, no I/O)."""

from __future__ import annotations

import pyarrow as pa

from dpone_core.gates.evolution import plan_evolution
from dpone_core.manifest.contract import SchemaEvolution
from dpone_core.model import TargetColumn, TargetSchema

TARGET = TargetSchema(
    (TargetColumn("id", pa.int64(), False), TargetColumn("name", pa.string()), TargetColumn("n", pa.int32())),
    ("id",),
)


def incoming(**types: pa.DataType) -> pa.Schema:
    return pa.schema([pa.field(k, v) for k, v in types.items()])


def test_new_table_keeps_key_and_not_null() -> None:
    plan = plan_evolution(
        incoming(id=pa.int64(), v=pa.large_string()),
        None,
        SchemaEvolution(),
        primary_key=("id",),
        not_null=frozenset({"v"}),
    )
    assert plan.creates_table
    assert plan.desired.primary_key == ("id",)
    assert [(c.name, c.type, c.nullable) for c in plan.desired.columns] == [
        ("id", pa.int64(), False),
        ("v", pa.string(), False),
    ]


def test_same_schema_needs_nothing() -> None:
    plan = plan_evolution(
        incoming(id=pa.int64(), name=pa.string(), n=pa.int32()), TARGET, SchemaEvolution(), primary_key=("id",)
    )
    assert not plan.blocked and not plan.added and not plan.widened and not plan.casts
    # Re-running never loses the key or NOT NULL (the upstream failure).
    assert plan.desired.primary_key == ("id",) and not plan.desired.column("id").nullable


def test_new_column_add_ignore_fail() -> None:
    schema = incoming(id=pa.int64(), name=pa.string(), n=pa.int32(), extra=pa.bool_())
    assert plan_evolution(schema, TARGET, SchemaEvolution(new_columns="add")).added == ("extra",)
    assert plan_evolution(schema, TARGET, SchemaEvolution(new_columns="ignore")).ignored == ("extra",)
    assert plan_evolution(schema, TARGET, SchemaEvolution(new_columns="fail")).blocked


def test_removed_column_keep_fail_and_not_null() -> None:
    schema = incoming(id=pa.int64(), n=pa.int32())
    assert plan_evolution(schema, TARGET, SchemaEvolution()).missing == ("name",)
    assert plan_evolution(schema, TARGET, SchemaEvolution(removed_columns="fail")).blocked
    strict_target = TargetSchema((*TARGET.columns[:1], TargetColumn("name", pa.string(), False)), ("id",))
    assert "NOT NULL" in plan_evolution(schema, strict_target, SchemaEvolution()).blocked[0]


def test_narrower_incoming_type_is_cast_silently() -> None:
    plan = plan_evolution(incoming(id=pa.int32(), name=pa.string(), n=pa.int8()), TARGET, SchemaEvolution())
    assert plan.casts == {"id": pa.int64(), "n": pa.int32()} and not plan.widened


def test_wider_incoming_type_widens_or_blocks() -> None:
    schema = incoming(id=pa.int64(), name=pa.string(), n=pa.int64())
    assert plan_evolution(schema, TARGET, SchemaEvolution()).widened == (("n", pa.int32(), pa.int64()),)
    assert plan_evolution(schema, TARGET, SchemaEvolution(type_changes="fail")).blocked
    quarantine = plan_evolution(schema, TARGET, SchemaEvolution(type_changes="quarantine"))
    assert quarantine.casts == {"n": pa.int32()} and quarantine.quarantine_casts


def test_incompatible_type_blocks_under_widen_only() -> None:
    plan = plan_evolution(incoming(id=pa.int64(), name=pa.int64(), n=pa.int32()), TARGET, SchemaEvolution())
    assert plan.blocked and "not a widening" in plan.blocked[0]


def test_changed_primary_key_blocks() -> None:
    plan = plan_evolution(
        incoming(id=pa.int64(), name=pa.string()), TARGET, SchemaEvolution(), primary_key=("id", "name")
    )
    assert "primary key" in plan.blocked[0]
