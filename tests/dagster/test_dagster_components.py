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


TRANSLATED = {
    "translation": {
        "key_prefix": "wh",
        "group_name": "{{ process.name }}_group",
        "owners": ["team:finance"],
        "tags": {"tier": "gold"},
        "kinds": ["bronze"],
        "automation_condition": "{{ automation_condition.eager() }}",
    },
    "op": {
        "tags": {"team": "data"},
        "pool": "wh_writes",
        "backfill_policy": {"type": "multi_run", "max_partitions_per_run": 2},
    },
    "blocking_checks": True,
}


def test_yaml_translation_and_op_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, module = write_project(tmp_path / "proj", {"a": TRANSLATED, "b": {}})
    monkeypatch.syspath_prepend(str(project / "src"))
    try:
        defs = dg.load_from_defs_folder(path_within_project=project / "src" / module)
        graph = defs.resolve_asset_graph()
        keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
        assert keys == {"wh/analytics/events_a", "analytics/events_b"}
        node = graph.get(dg.AssetKey(["wh", "analytics", "events_a"]))
        assert node.group_name == "events_a_group"
        assert node.owners == ["team:finance"] and node.tags.get("tier") == "gold"
        assert node.kinds == {"bronze"}
        assert node.automation_condition is not None
        assert node.backfill_policy == dg.BackfillPolicy.multi_run(2)
        assets_def = node.assets_def
        assert assets_def.op.tags.get("team") == "data" and assets_def.op.pool == "wh_writes"
        assert assets_def.check_specs and all(c.blocking for c in assets_def.check_specs)
        other = graph.get(dg.AssetKey(["analytics", "events_b"]))
        assert other.group_name == "dpone" and other.assets_def.op.pool is None
        assert not any(c.blocking for c in other.assets_def.check_specs)
        # code_version is the process's own configuration hash: equal processes, equal versions.
        version = node.code_version
        assert version is not None and len(version) == 16
    finally:
        for name in [m for m in sys.modules if m.startswith(module)]:
            sys.modules.pop(name)


def test_code_version_follows_the_process_definition(events: Path) -> None:
    from dagster_helpers import edit_manifest

    from dpone_dagster import build_dpone_assets

    first = build_dpone_assets(events)[0].specs_by_key[dg.AssetKey(["analytics", "events"])].code_version
    edit_manifest(events, description="changed only the description")
    second = build_dpone_assets(events)[0].specs_by_key[dg.AssetKey(["analytics", "events"])].code_version
    edit_manifest(events, sink={"strategy": "append"})
    third = build_dpone_assets(events)[0].specs_by_key[dg.AssetKey(["analytics", "events"])].code_version
    assert len({first, second, third}) == 3


def test_dg_scaffold_writes_a_component_that_loads(tmp_path: Path) -> None:
    dg_cli = dg_executable()
    project, module = write_project(tmp_path / "proj", {})
    (project / "src" / module / "defs").mkdir()  # an empty project's defs folder
    run_cli([dg_cli, "scaffold", "defs", "dpone_dagster.DponeManifestComponent", "orders"], project)
    folder = project / "src" / module / "defs" / "orders"
    assert "dpone_dagster.DponeManifestComponent" in (folder / "defs.yaml").read_text()
    assert (folder / "manifest.yaml").is_file()
    listed = json.loads(run_cli([dg_cli, "list", "defs", "--json"], project).stdout)
    assert {a["asset_key"] for a in listed["assets"]} == {"analytics/orders"}
