"""Column name normalisation."""

from __future__ import annotations

import pytest

from dpone_core.runtime.column_names import normalise


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("OrderID", "order_id"),
        ("orderId", "order_id"),
        ("Customer Name", "customer_name"),
        ("HTTPStatus", "http_status"),
        ("already_snake", "already_snake"),
        ("  spaced  out ", "spaced_out"),
        ("a.b-c", "a_b_c"),
        ("Größe", "größe"),
        ("___", "___"),
        ("snake__case", "snake_case"),
        ("Col2Value", "col2_value"),
    ],
)
def test_snake(name: str, snake: str) -> None:
    assert normalise(name, "snake") == snake


def test_lower_and_as_is() -> None:
    assert normalise("Customer Name", "lower") == "customer name"
    assert normalise("Customer Name", "as_is") == "Customer Name"
