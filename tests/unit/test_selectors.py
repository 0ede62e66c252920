"""dbt-like selection over depends_on."""

from __future__ import annotations

import pytest

from dpone_core.errors import ManifestError
from dpone_core.manifest.models import Manifest
from dpone_core.manifest.selectors import select, select_one


def manifest() -> Manifest:
    def proc(name: str, deps: list[str], tags: list[str], alias: str | None = None) -> dict:
        return {
            "name": name,
            "selector": alias,
            "tags": tags,
            "depends_on": deps,
            "source": {"connection": "f", "path": "*.csv", "format": "csv"},
            "sink": {"connection": "d", "table": name},
        }

    return Manifest.model_validate(
        {
            "connections": {"f": {"type": "files"}, "d": {"type": "duckdb", "path": "x.duckdb"}},
            "processes": [
                proc("orders", ["customers"], ["finance"], alias="ord"),
                proc("customers", [], ["crm"]),
                proc("revenue", ["orders"], ["finance", "daily"]),
                proc("other", [], []),
            ],
        }
    )


def names(selector: str | None) -> list[str]:
    return [p.name for p in select(manifest(), selector)]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ["customers", "other", "orders", "revenue"]),
        ("orders", ["orders"]),
        ("ord", ["orders"]),
        ("tag:finance", ["orders", "revenue"]),
        ("+orders", ["customers", "orders"]),
        ("orders+", ["orders", "revenue"]),
        ("+orders+", ["customers", "orders", "revenue"]),
        ("+revenue", ["customers", "orders", "revenue"]),
        ("customers other", ["customers", "other"]),
        ("tag:daily,other", ["revenue", "other"]),
    ],
)
def test_select(selector: str | None, expected: list[str]) -> None:
    assert names(selector) == expected


def test_unknown_name_suggests() -> None:
    with pytest.raises(ManifestError, match="did you mean 'orders'"):
        names("ordrs")


def test_unknown_tag_suggests() -> None:
    with pytest.raises(ManifestError, match="did you mean 'tag:finance'"):
        names("tag:finanse")


def test_select_one_needs_exactly_one() -> None:
    assert select_one(manifest(), "revenue").name == "revenue"
    with pytest.raises(ManifestError, match="matched 2 processes"):
        select_one(manifest(), "tag:finance")
    with pytest.raises(ManifestError, match="no selector was given"):
        select_one(manifest(), None)


def test_order_holds_through_processes_left_out_of_the_selection() -> None:
    def proc(name: str, deps: list[str]) -> dict:
        return {
            "name": name,
            "depends_on": deps,
            "source": {"connection": "f", "path": "*.csv", "format": "csv"},
            "sink": {"connection": "d", "table": name},
        }

    m = Manifest.model_validate(
        {
            "connections": {"f": {"type": "files"}, "d": {"type": "duckdb", "path": "x.duckdb"}},
            # Listed downstream first: only the graph through b puts a before c.
            "processes": [proc("c", ["b"]), proc("b", ["a"]), proc("a", [])],
        }
    )
    assert [p.name for p in select(m, "a c")] == ["a", "c"]
