"""Fixtures for orchestration end-to-end tests (helpers live in orch_project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from orch_project import Project, project_builder


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    """Build small files -> DuckDB projects in this test's tmp dir."""
    return project_builder(tmp_path)
