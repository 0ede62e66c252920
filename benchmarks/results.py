"""The results file a benchmark writes, and ``dpone ops benchmark-slo-gate`` reads.

One JSON object (stdlib only, so every benchmark and its children can import it)::

    {
      "kind": "benchmark_results",
      "schema_version": 1,
      "benchmark": "files_to_duckdb",            # the script's name
      "created_at": "2026-12-03T14:33:50+00:00",
      "host": {"python": "3.11.7", "platform": "Linux-...", "cpus": 2},
      "cases": [
        {
          "case": "files_to_duckdb__full_refresh@1000000",   # <source>_to_<sink>__<strategy>[@rows]
          "rows": 1000000,               # size: rows moved
          "bytes": 52428800,             # size: bytes read (null when unknown)
          "seconds": 2.1,                # wall time of the measured run
          "rows_per_second": 476190.5,
          "ratio_to_raw": 0.74,          # dpone rows/s / the raw tool rows/s (1.0 = as fast as raw)
          "peak_rss_mb": 310.2           # VmHWM of the process that did the work (benchmarks/peak_rss.py)
        }
      ]
    }

The gate flattens it to metrics named ``<case>.<field>`` (``files_to_duckdb__full_refresh@1000000.
rows_per_second``); ``rows_per_second`` and ``ratio_to_raw`` are better higher, ``seconds`` and
``peak_rss_mb`` lower. A field that was not measured is ``null`` and is not a metric.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KIND = "benchmark_results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CaseResult:
    """One measured case; ``rows_per_second`` is derived from rows and seconds when not given."""

    case: str
    rows: int
    seconds: float
    ratio_to_raw: float | None = None
    peak_rss_mb: float | None = None
    bytes: int | None = None
    rows_per_second: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The case's JSON entry."""
        data = asdict(self)
        if data["rows_per_second"] is None and self.seconds > 0:
            data["rows_per_second"] = round(self.rows / self.seconds, 1)
        return data


def write_results(path: Path, cases: Iterable[CaseResult | Mapping[str, Any]], benchmark: str | None = None) -> Path:
    """Write ``cases`` as a results file at ``path`` (replaced atomically); returns the path."""
    entries = [c.to_dict() if isinstance(c, CaseResult) else CaseResult(**c).to_dict() for c in cases]
    document = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "benchmark": benchmark or Path(sys.argv[0]).stem,
        "created_at": datetime.now(UTC).isoformat(),
        "host": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "cases": entries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    # A reader (the gate, CI) never sees half a file.
    partial.replace(path)
    return path
