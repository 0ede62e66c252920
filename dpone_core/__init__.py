"""dpone core runtime: manifests, gates, strategies, state and evidence behind one ``run`` function."""

from dpone_core.api import committed_loads, plan, processes, read_target, run, validate
from dpone_core.errors import DponeError, ManifestError
from dpone_core.runtime.report import RunReport, RunResult

__version__ = "0.1.0"

__all__ = [
    "DponeError",
    "ManifestError",
    "RunReport",
    "RunResult",
    "__version__",
    "committed_loads",
    "plan",
    "processes",
    "read_target",
    "run",
    "validate",
]
