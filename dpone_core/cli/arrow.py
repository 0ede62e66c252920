"""Keep pyarrow's optional pandas integration switched off in a ``dpone`` process that loads rows.

pyarrow imports pandas (0.2-0.3 s here) the first time it converts a Python value, which every load
does (a scalar in a gate, an expression in ``pyarrow.dataset``), whenever pandas is installed; an
environment with Airflow or Dagster always has it. A load never hands pyarrow a pandas object, so
the command line lets pyarrow make that first try with pandas out of reach: pyarrow then behaves
as in an install without pandas (as ``dpone[postgres]`` alone is), and pandas itself stays
importable for any other code in the process. Only the command line does this: in a process that
embeds dpone (an Airflow worker, a Dagster run) user code may hand pyarrow pandas objects, so
:func:`dpone_core.run` leaves pyarrow alone. See docs/adr/0004-startup-imports.md.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType


class _RefusePandas(importlib.abc.MetaPathFinder):
    """A finder that makes ``import pandas`` fail while it is installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Refuse pandas and its submodules; leave every other module to the next finder."""
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def pyarrow_without_pandas() -> None:
    """Let pyarrow look for pandas once, now, and not find it (no-op if pandas is already loaded).

    Only in a single-threaded process: another thread importing pandas meanwhile would be refused.
    """
    if "pandas" in sys.modules or threading.active_count() != 1:
        return
    refuse = _RefusePandas()
    sys.meta_path.insert(0, refuse)
    try:
        import pyarrow as pa

        pa.scalar(0)  # pyarrow's first conversion asks for pandas once and remembers the answer
    finally:
        sys.meta_path.remove(refuse)
