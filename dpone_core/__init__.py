"""dpone core runtime: manifests, gates, strategies, state and evidence behind one ``run`` function.

The public names are imported on first use, so ``dpone --help`` and the Airflow provider's
entry point stay fast (no pyarrow/duckdb import until a run needs them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "run": "dpone_core.api",
    "plan": "dpone_core.api",
    "validate": "dpone_core.api",
    "check": "dpone_core.api",
    "processes": "dpone_core.api",
    "committed_loads": "dpone_core.api",
    "read_target": "dpone_core.api",
    "loads": "dpone_core.api",
    "states": "dpone_core.api",
    "RunReport": "dpone_core.api",
    "RunResult": "dpone_core.api",
    "DponeError": "dpone_core.errors",
    "ManifestError": "dpone_core.errors",
}

if TYPE_CHECKING:
    from dpone_core.api import (
        RunReport,
        RunResult,
        check,
        committed_loads,
        loads,
        plan,
        processes,
        read_target,
        run,
        states,
        validate,
    )
    from dpone_core.errors import DponeError, ManifestError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dpone_core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DponeError",
    "ManifestError",
    "RunReport",
    "RunResult",
    "__version__",
    "check",
    "committed_loads",
    "loads",
    "plan",
    "processes",
    "read_target",
    "run",
    "states",
    "validate",
]
