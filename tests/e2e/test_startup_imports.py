"""What a command imports, pinned: start-up is mostly imports, and a stray one costs every run.

The quickstart (CSV -> DuckDB, merge, contract, quarantine) through the command line with
``--format json``: no terminal UI (rich), no pandas (pyarrow would import it on its first
conversion; the command line keeps it out, see dpone_core/cli/arrow.py), no driver of a system
the manifest does not use. ``manifest validate`` touches no Arrow at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from dpone_core.gates.contract import sample_value
from tests.imported_modules import cli_modules

OTHER_SYSTEMS = {"psycopg2", "adbc_driver_manager", "sqlalchemy", "boto3", "deltalake", "clickhouse_connect", "kafka"}
NEVER_ON_A_LOAD = {"pandas", "polars", "rich", "openlineage", "prometheus_client", "opentelemetry", "sqlglot"}


def test_a_json_run_of_the_quickstart_imports_no_ui_no_pandas_and_no_other_drivers(quickstart: Path) -> None:
    pytest.importorskip("pandas")  # the point is an environment that has it (as every CI run does)
    done = cli_modules(["run", str(quickstart), "--format", "json"], quickstart.parent)
    assert done.returncode == 0, done.stdout[-2000:]
    assert json.loads(done.stdout)["result"]["inserted_rows"] == 3835
    assert not done.heavy & (NEVER_ON_A_LOAD | OTHER_SYSTEMS), done.heavy
    assert {"duckdb", "pyarrow", "dpone_core.gates.contract"} <= done.heavy


def test_manifest_validate_imports_no_arrow(quickstart: Path) -> None:
    done = cli_modules(["manifest", "validate", str(quickstart)], quickstart.parent)
    assert done.returncode == 0, done.stdout
    assert not done.heavy, done.heavy


def test_pandas_stays_importable_after_the_command_line_kept_it_from_pyarrow(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    import subprocess

    code = (
        "import sys; from dpone_core.cli.arrow import pyarrow_without_pandas; pyarrow_without_pandas(); "
        "assert 'pandas' not in sys.modules; import pandas, pyarrow as pa; "
        "print(pa.Table.from_pandas(pandas.DataFrame({'a': [1, 2]})).num_rows)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr


def test_a_nanosecond_sample_is_text_with_or_without_pandas() -> None:
    """A contract message quoting a nanosecond timestamp crashed (DPONE_INTERNAL) where pandas was absent."""
    column = pa.array([1_600_000_000_000_000_001], pa.timestamp("ns", tz="UTC"))
    assert sample_value(column, 0) == "2020-09-13 12:26:40.000000001Z"
    assert sample_value(pa.array([7]), 0) == 7
