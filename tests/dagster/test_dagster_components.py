"""DponeManifestComponent in a real project: several components side by side, in-process and via ``dg``."""

import json
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_project_helpers import dg_executable, run_cli, write_project

from dpone_dagster import DponeIOManager, DponeResource

KEYS = {"analytics/events_a", "analytics/events_b"}


def test_two_components_share_the_resources_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    evidence = tmp_path / "evidence_b"
    project, module = write_project(tmp_path / "proj", {"a": {}, "b": {"evidence_dir": str(evidence)}})
    monkeypatch.syspath_prepend(str(project / "src"))
    try:
        defs = dg.load_from_defs_folder(path_within_project=project / "src" / module)
        assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == KEYS
        assert isinstance(defs.resources["dpone"], DponeResource)
        assert isinstance(defs.resources["dpone_io_manager"], DponeIOManager)
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, partition_key="2024-01-02")
        assert result.success
        by_key = {
            e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
        }
        assert set(by_key) == KEYS
        assert "dpone/evidence_path" not in by_key["analytics/events_a"]
        assert Path(by_key["analytics/events_b"]["dpone/evidence_path"].value).is_relative_to(evidence)
    finally:
        for name in [m for m in sys.modules if m.startswith(module)]:
            sys.modules.pop(name)


def test_two_components_load_with_the_dg_cli(tmp_path: Path) -> None:
    dg_cli = dg_executable()
    project, _ = write_project(tmp_path / "proj", {"a": {}, "b": {"resource_key": "dpone_b"}})
    listed = json.loads(run_cli([dg_cli, "list", "defs", "--json"], project).stdout)
    assert {a["asset_key"] for a in listed["assets"]} == KEYS
    assert {r["name"] for r in listed["resources"]} == {"dpone", "dpone_b", "dpone_io_manager"}
    checked = run_cli([dg_cli, "check", "defs"], project)
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
