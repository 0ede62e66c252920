"""Fixtures shared by every test folder."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "dags_examples" / "quickstart"

# A shell starts background jobs (`cmd &`, nohup) with SIGINT ignored, and exec keeps an ignored
# signal ignored: every `dpone` the Ctrl-C tests start would then shrug off their SIGINT. Restore
# the terminal's default here, in each xdist worker, so the children start with it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture()
def quickstart(tmp_path: Path) -> Path:
    """A private copy of the quickstart folder (manifest + data); returns the manifest path."""
    target = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns(".dpone", "__pycache__"))
    return target / "orders.yaml"
