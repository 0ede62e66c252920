"""Cursor encoding and lookback arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dpone_core.manifest.process import Incremental
from dpone_core.state.cursor import decode_cursor, encode_cursor, lower_bound


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        datetime(2026, 1, 2),
        date(2026, 1, 2),
        42,
        Decimal("1.50"),
        2.5,
        "abc",
    ],
)
def test_round_trip(value: object) -> None:
    decoded = decode_cursor(encode_cursor(value))
    assert decoded == value and type(decoded) is type(value)


def test_lookback_on_timestamps_and_numbers() -> None:
    ts = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert lower_bound(ts, Incremental(cursor="c", lookback="2h")) == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert lower_bound(100, Incremental(cursor="c", lookback=10)) == 90
    assert lower_bound(None, Incremental(cursor="c", initial="2026-01-01")) == "2026-01-01"
    assert lower_bound(ts, Incremental(cursor="c")) == ts


def test_boolean_cursor_refused() -> None:
    with pytest.raises(TypeError):
        encode_cursor(True)
