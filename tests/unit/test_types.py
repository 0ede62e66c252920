"""Widening rules and vectorised conversions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dpone_core.gates.types import cast_with_failures, contract_arrow_type, widens
from dpone_core.manifest.contract import ColumnRule


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (pa.int8(), pa.int64(), True),
        (pa.int64(), pa.int32(), False),
        (pa.int32(), pa.float64(), True),
        (pa.int64(), pa.float64(), False),
        (pa.float32(), pa.float64(), True),
        (pa.float64(), pa.float32(), False),
        (pa.int32(), pa.decimal128(12, 2), True),
        (pa.int64(), pa.decimal128(18, 2), False),
        (pa.decimal128(10, 2), pa.decimal128(12, 3), True),
        (pa.decimal128(10, 2), pa.decimal128(12, 1), False),
        (pa.date32(), pa.timestamp("us"), True),
        (pa.timestamp("ms", tz="UTC"), pa.timestamp("us", tz="UTC"), True),
        (pa.timestamp("us"), pa.timestamp("us", tz="UTC"), False),
        (pa.string(), pa.large_string(), True),
        (pa.string(), pa.int64(), False),
        (pa.bool_(), pa.int64(), False),
    ],
)
def test_widens(source: pa.DataType, target: pa.DataType, expected: bool) -> None:
    assert widens(source, target) is expected


def test_contract_types() -> None:
    assert contract_arrow_type(ColumnRule(type="integer")) == pa.int64()
    assert contract_arrow_type(ColumnRule(type="timestamp", tz="UTC")) == pa.timestamp("us", tz="UTC")
    assert contract_arrow_type(ColumnRule()) is None


def test_bisection_finds_every_bad_row_in_a_large_array() -> None:
    values = [str(i) for i in range(10_000)]
    for bad in (0, 17, 4095, 9_999):
        values[bad] = "bad"
    result, failed = cast_with_failures(pa.array(values), pa.int32())
    assert failed.nonzero()[0].tolist() == [0, 17, 4095, 9_999]
    assert result.null_count == 4


def test_overflow_into_small_int_is_a_failure() -> None:
    _, failed = cast_with_failures(pa.array([1, 300, -129]), pa.int8())
    assert failed.tolist() == [False, True, True]


def test_float_truncation_is_a_failure() -> None:
    values, failed = cast_with_failures(pa.array([1.0, 1.5]), pa.int64())
    assert values.to_pylist() == [1, None] and failed.tolist() == [False, True]


def test_text_to_time_and_bare_dates_to_timestamps() -> None:
    times, failed = cast_with_failures(pa.array(["10:30", "23:59:59.5", "25:00", None]), pa.time64("us"))
    assert [str(t) if t else None for t in times.to_pylist()] == ["10:30:00", "23:59:59.500000", None, None]
    assert failed.tolist() == [False, False, True, False]
    stamps, failed = cast_with_failures(pa.array(["2024-01-01", "2024-01-01T10:00:00Z"]), pa.timestamp("us", tz="UTC"))
    assert [s.isoformat() for s in stamps.to_pylist()] == ["2024-01-01T00:00:00+00:00", "2024-01-01T10:00:00+00:00"]
    assert not failed.any()
