"""Helpers for tests that drive a real ``dg`` project: write one into a tmp folder, run the ``dg`` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from dagster_helpers import edit_manifest, write_events


def write_project(root: Path, components: dict[str, dict[str, object]]) -> tuple[Path, str]:
    """A ``dg`` project under ``root``: one defs folder per component, each with its own events manifest.

    ``components`` maps a folder name to extra component attributes; the process in folder ``x``
    is named ``events_x`` and loads ``analytics.events_x``. Returns the project root and its module.
    """
    module = f"dpone_proj_{uuid.uuid4().hex[:8]}"
    package = root / "src" / module
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{module}"\nversion = "0.1.0"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        f'[tool.dg.project]\nroot_module = "{module}"\n'
    )
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\ndef defs():\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    for name, attributes in components.items():
        folder = package / "defs" / name
        manifest = write_events(folder)
        edit_manifest(manifest, name=f"events_{name}", sink={"table": f"analytics.events_{name}"})
        body = {"type": "dpone_dagster.DponeManifestComponent", "attributes": {"manifest": "events.yaml", **attributes}}
        (folder / "defs.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return root, module


def dg_executable() -> str:
    """The ``dg`` CLI: ``$DPONE_DG``, the one next to this Python, or on PATH; skips the test without one."""
    candidates = [os.environ.get("DPONE_DG"), str(Path(sys.executable).parent / "dg"), shutil.which("dg")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("the dg CLI (dagster-dg-cli) is not installed; set DPONE_DG to its path")


def run_cli(args: list[str], project: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run a CLI in ``project`` with its ``src`` importable; fails the test with the output on a non-zero exit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(args, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done
