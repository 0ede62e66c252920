"""A few hundred bad inputs: each ends in one line with the right exit code, never DPONE_INTERNAL or a traceback.

DPONE_INTERNAL is for dpone's own bugs; a user's mistake (manifest, data file, identifier,
connection, option) is exit 2 when nothing could run and exit 1 when the data or an object is bad.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import dpone_core
from dpone_core.cli.main import cli
from tests.e2e.bad_inputs import Case, all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_ends_in_one_line_with_its_exit_code(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    manifest = case.write(tmp_path)
    report = dpone_core.run(manifest, **case.run_kwargs)
    lines = [e.line for e in report.result.errors]
    assert not any(e.code == "DPONE_INTERNAL" for e in report.result.errors), lines
    assert all("\n" not in line and "Traceback" not in line for line in lines), lines
    if case.expect >= 0:
        assert report.exit_code == case.expect, report.to_text()
    if report.exit_code:
        assert lines, report.to_text()


YAML_CASES = [c for c in CASES if c.id.startswith(("yaml-", "value-processes.0.sink", "csv-"))]


@pytest.mark.parametrize("case", YAML_CASES, ids=[c.id for c in YAML_CASES])
def test_the_cli_prints_no_traceback(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = case.write(tmp_path)
    for command in (["run", str(manifest)], ["manifest", "validate", str(manifest)], ["plan", str(manifest)]):
        result = CliRunner().invoke(cli, command, env=dict(os.environ))
        unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not unexpected, f"{command[0]}: {result.exception!r}\n{result.output}"
        assert "Traceback" not in result.output and "DPONE_INTERNAL" not in result.output, result.output
