"""Parquet files a reconcile can query by SQL before they are committed: an in-memory DuckDB over them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow.dataset as ds

from dpone_core.spi.ports import SqlAccess


def dataset_access(dataset: ds.Dataset, name: str, scope: str | None = None) -> SqlAccess:
    """``dataset`` as the DuckDB view ``name`` of a private in-memory database (nothing is copied)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.register(name, dataset)

    def query(sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return list(con.execute(sql, dict(params)).fetchall())

    return SqlAccess("duckdb", query, None, name, scope)
