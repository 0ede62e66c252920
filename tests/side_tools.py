"""Tools the tests run from their own virtual environments (``scripts/test`` installs them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO


def side_tool(venv: str, program: str, *, override: str, require: str, what: str) -> Path:
    """``<repo>/<venv>/bin/<program>``, or the path in ``$override``.

    Missing, the test fails when ``$require`` is ``1`` (as in CI, where scripts/test installs it)
    and is skipped otherwise.
    """
    found = Path(os.environ.get(override) or REPO / venv / "bin" / program)
    if found.is_file():
        return found
    if os.environ.get(require) == "1":
        pytest.fail(f"{what} not found at {found} (scripts/test installs it into {venv})")
    pytest.skip(f"{what} is not installed ({venv}/bin/{program} or ${override})")
