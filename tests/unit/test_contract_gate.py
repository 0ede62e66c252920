"""The contract gate: conversions and row rules evaluated per batch, reasons per rejected row."""

from __future__ import annotations

import math
from decimal import Decimal

import pyarrow as pa
import pytest

from dpone_core.errors import ContractViolation, TypeCompatibilityError
from dpone_core.gates.contract import REASON_COLUMN, ContractGate
from dpone_core.manifest.contract import ColumnRule, SchemaContract


def gate(enforcement: str = "quarantine", **columns: dict) -> ContractGate:
    rules = {name: ColumnRule(**spec) for name, spec in columns.items()}
    return ContractGate(SchemaContract(enforcement=enforcement, columns=rules))


def batch(**columns: list) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns)


def test_clean_batch_passes_typed() -> None:
    verdict = gate(id={"type": "int64"}).check(batch(id=["1", "2"], other=["a", "b"]))
    assert verdict.rejected is None
    assert verdict.valid.column("id").to_pylist() == [1, 2]
    assert verdict.valid.schema.field("id").type == pa.int64()
    assert verdict.valid.column("other").to_pylist() == ["a", "b"]


def test_type_failures_are_per_row_and_keep_raw_values() -> None:
    verdict = gate(id={"type": "int64"}).check(batch(id=["1", "x", " 3 ", None, "9" * 30]))
    assert verdict.valid.column("id").to_pylist() == [1, 3, None]
    assert verdict.rejected is not None
    assert verdict.rejected.column("id").to_pylist() == ["x", "9" * 30]
    assert verdict.rejected.column(REASON_COLUMN).to_pylist()[0].startswith("id.type:")
    assert verdict.failures["id.type"] == 2


def test_not_null_and_nan() -> None:
    g = gate(v={"type": "float64", "nullable": False, "min": 0})
    verdict = g.check(batch(v=[1.0, None, float("nan"), -0.0, -1.5]))
    assert verdict.rejected is not None
    reasons = verdict.rejected.column(REASON_COLUMN).to_pylist()
    assert verdict.rejected.num_rows == 3  # null, NaN (not >= 0), -1.5
    assert any(r.startswith("v.not_null") for r in reasons)
    assert [x for x in verdict.valid.column("v").to_pylist()] == [1.0, -0.0]
    assert not any(isinstance(x, float) and math.isnan(x) for x in verdict.valid.column("v").to_pylist())


@pytest.mark.parametrize(
    ("values", "kept"),
    [(["0", "100", "100.00", "-0.01", "100.01"], [Decimal("0.00"), Decimal("100.00"), Decimal("100.00")])],
)
def test_decimal_bounds_are_inclusive(values: list[str], kept: list[Decimal]) -> None:
    g = gate(amount={"type": "decimal", "precision": 10, "scale": 2, "min": 0, "max": 100})
    verdict = g.check(batch(amount=values))
    assert verdict.valid.column("amount").to_pylist() == kept
    assert verdict.failures == {"amount.min": 1, "amount.max": 1}


def test_decimal_that_would_lose_digits_is_a_type_failure() -> None:
    verdict = gate(a={"type": "decimal", "precision": 5, "scale": 2}).check(batch(a=["1.234", "123.45", "1234.5"]))
    assert verdict.valid.column("a").to_pylist() == [Decimal("123.45")]
    assert verdict.failures["a.type"] == 2


def test_allowed_values_and_unicode() -> None:
    g = gate(status={"type": "string", "allowed": ["neu", "bezahlt", "geliefert ✓"]})
    verdict = g.check(batch(status=["neu", "geliefert ✓", "Neu", "ünbekannt", None]))
    assert verdict.valid.column("status").to_pylist() == ["neu", "geliefert ✓", None]
    assert verdict.rejected is not None
    assert verdict.rejected.column("status").to_pylist() == ["Neu", "ünbekannt"]


def test_regex_is_a_search_and_max_length_counts_characters() -> None:
    g = gate(email={"regex": "^[^@ ]+@[^@ ]+$", "max_length": 12})
    verdict = g.check(batch(email=["a@b.de", "no-at", "ääääää@ü.de", "long.name@example.org"]))
    assert verdict.valid.column("email").to_pylist() == ["a@b.de", "ääääää@ü.de"]
    assert verdict.failures == {"email.regex": 1, "email.max_length": 1}


def test_multiple_failing_rules_are_joined_in_one_reason() -> None:
    g = gate(a={"type": "int64", "min": 10, "allowed": [10, 20]})
    verdict = g.check(batch(a=["5"]))
    assert verdict.rejected is not None
    reason = verdict.rejected.column(REASON_COLUMN)[0].as_py()
    assert "a.min" in reason and "a.allowed" in reason and "; " in reason


def test_timestamps_with_offsets_and_zone() -> None:
    g = gate(ts={"type": "timestamp", "tz": "Europe/Berlin"})
    verdict = g.check(batch(ts=["2026-01-01T10:00:00Z", "2026-01-01 10:00:00", "2026-02-30 00:00:00", "soon"]))
    values = verdict.valid.column("ts")
    assert values.type == pa.timestamp("us", tz="Europe/Berlin")
    utc = [v.astimezone().utcoffset() is not None for v in values.to_pylist()]
    assert all(utc)
    # Naive text is read in the contract's zone: 10:00 Berlin is 09:00 UTC in winter.
    assert values.to_pylist()[1].isoformat() == "2026-01-01T10:00:00+01:00"
    assert values.to_pylist()[0].isoformat() == "2026-01-01T11:00:00+01:00"
    assert verdict.failures["ts.type"] == 2


def test_booleans_from_text() -> None:
    verdict = gate(b={"type": "boolean"}).check(batch(b=["true", "F", "yes", "0", "maybe", None]))
    assert verdict.valid.column("b").to_pylist() == [True, False, True, False, None]
    assert verdict.failures["b.type"] == 1


def test_strict_raises_with_a_one_line_summary() -> None:
    with pytest.raises(ContractViolation) as info:
        gate("strict", a={"type": "int64", "min": 0}).check(batch(a=["1", "-2", "-3"]))
    message = str(info.value)
    assert "2 rows break the data contract" in message and "a.min" in message and "\n" not in message


def test_off_skips_rules_but_not_conversion() -> None:
    g = gate("off", a={"type": "int64", "min": 0})
    assert g.check(batch(a=["-5"])).valid.column("a").to_pylist() == [-5]
    with pytest.raises(TypeCompatibilityError):
        g.check(batch(a=["x"]))


def test_implicit_not_null_from_keys() -> None:
    g = ContractGate(SchemaContract(enforcement="quarantine"), not_null=frozenset({"id"}))
    verdict = g.check(batch(id=[1, None]))
    assert verdict.failures == {"id.not_null": 1}


def test_rule_ids_cover_every_rule() -> None:
    g = ContractGate(
        SchemaContract(columns={"a": ColumnRule(type="int64", nullable=False, min=0, unique=True)}),
        not_null=frozenset({"id"}),
        unique_keys=(("a",), ("id",)),
    )
    assert g.rule_ids() == ["a.type", "a.not_null", "a.min", "a.unique", "id.not_null", "id.unique"]


def test_typed_source_column_compared_without_text() -> None:
    verdict = gate(n={"min": 1}).check(batch(n=[0, 1, 2]))
    assert verdict.valid.column("n").to_pylist() == [1, 2]


def test_timestamp_bounds_may_be_bare_dates() -> None:
    g = gate(ts={"type": "timestamp", "tz": "UTC", "min": "2024-01-01"})
    verdict = g.check(batch(ts=["2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z"]))
    assert verdict.failures == {"ts.min": 1}


def test_enforcement_off_still_refuses_a_null_key_of_a_key_strategy() -> None:
    batch = pa.record_batch({"id": pa.array([1, None, 3]), "v": pa.array(["a", "b", None])})
    keyed = ContractGate(SchemaContract(enforcement="off"), not_null=frozenset({"id", "v"}), key=("id",))
    with pytest.raises(ContractViolation, match="1 rows have no value in key column id"):
        keyed.check(batch)
    assert keyed.totals == {"id.not_null": 1}  # v's NULL is not a key: off leaves it
    # Without a key strategy (append, full_refresh) off checks no row rule at all.
    plain = ContractGate(SchemaContract(enforcement="off"), not_null=frozenset({"id"}))
    assert plain.check(batch).valid.num_rows == 3
