"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "dags_examples" / "quickstart"


@pytest.fixture()
def quickstart(tmp_path: Path) -> Path:
    """A private copy of the quickstart folder (manifest + data); returns the manifest path."""
    target = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns(".dpone", "__pycache__"))
    return target / "orders.yaml"
