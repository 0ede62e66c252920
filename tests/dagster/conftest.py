"""Fixtures for the Dagster integration tests: an ephemeral instance and small manifests in tmp dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster_helpers import write_events

try:
    import dagster as dg
except ImportError:  # the dagster extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a dagster test (``-m dagster`` selects them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.dagster)


@pytest.fixture()
def instance() -> Iterator[Any]:
    """A throwaway Dagster instance (in-memory storage, tmp compute logs)."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture()
def events(tmp_path: Path) -> Path:
    """The partitioned events manifest over 5 days of data in a private tmp folder."""
    return write_events(tmp_path / "events")
