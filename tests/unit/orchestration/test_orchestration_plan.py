"""The runner's plan: selection by stage, depends_on and execution_order edges, lanes, stable sharding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dpone_core.errors import ManifestError
from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_core.orchestration.plan import build_plan, select_processes, stable_shard


def _manifest(tmp_path: Path, processes: list[dict[str, Any]]) -> LoadedManifest:
    body = []
    for spec in processes:
        name = spec.pop("name")
        body.append(
            {
                "name": name,
                "source": {"connection": "inbox", "path": f"{name}.csv", "format": "csv"},
                "sink": {"connection": spec.pop("sink", "wh"), "table": f"main.{name}"},
                **spec,
            }
        )
    path = tmp_path / "m.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "connections": {
                    "inbox": {"type": "files", "root": "data"},
                    "wh": {"type": "duckdb", "path": "wh.duckdb"},
                    "other": {"type": "duckdb", "path": "other.duckdb"},
                },
                "processes": body,
            }
        )
    )
    return load_manifest(path)


def test_depends_on_is_a_data_edge_and_order_waves_are_per_group(tmp_path: Path) -> None:
    loaded = _manifest(
        tmp_path,
        [
            {"name": "c", "orchestration": {"group": "g", "execution_order": 2}},
            {"name": "a", "orchestration": {"group": "g", "execution_order": 1}},
            {"name": "b", "orchestration": {"group": "g", "execution_order": 1}},
            {"name": "x", "orchestration": {"group": "h", "execution_order": 5}},
            {"name": "d", "depends_on": ["c"]},
            {"name": "free"},
        ],
    )
    plan = build_plan(loaded, select_processes(loaded, None), "job")
    tasks = {t.id: t for t in plan.tasks}
    assert [t.id for t in plan.tasks].index("c") > [t.id for t in plan.tasks].index("b")
    assert set(tasks["c"].after) == {"a", "b"} and tasks["c"].needs == ()
    assert tasks["d"].needs == ("c",) and tasks["d"].after == ()
    assert tasks["x"].after == () and tasks["free"].after == () and tasks["a"].after == ()
    assert tasks["d"].run_id == "job__d"


def test_contradicting_order_and_dependency_is_a_manifest_error(tmp_path: Path) -> None:
    loaded = _manifest(
        tmp_path,
        [
            {"name": "a", "depends_on": ["b"], "orchestration": {"execution_order": 1}},
            {"name": "b", "orchestration": {"execution_order": 2}},
        ],
    )
    with pytest.raises(ManifestError, match="contradict"):
        build_plan(loaded, select_processes(loaded, None), "job")


def test_lanes_are_the_concurrency_key_and_the_duckdb_file(tmp_path: Path) -> None:
    loaded = _manifest(
        tmp_path,
        [
            {"name": "a", "orchestration": {"concurrency_key": "pool1"}},
            {"name": "b", "sink": "other"},
        ],
    )
    tasks = {t.id: t for t in build_plan(loaded, select_processes(loaded, None), "job").tasks}
    assert tasks["a"].exclusive == ("key:pool1", f"duckdb:{tmp_path / 'wh.duckdb'}")
    assert tasks["b"].exclusive == (f"duckdb:{tmp_path / 'other.duckdb'}",)


def test_stages_select_by_tag_and_unknown_stages_say_which_tags_exist(tmp_path: Path) -> None:
    loaded = _manifest(
        tmp_path,
        [
            {"name": "a", "tags": ["bronze"]},
            {"name": "b", "tags": ["silver"]},
            {"name": "c", "tags": ["bronze"]},
        ],
    )
    assert [p.name for p in select_processes(loaded, None, ["bronze"])] == ["a", "c"]
    assert [p.name for p in select_processes(loaded, "a,b", ["bronze"])] == ["a"]
    with pytest.raises(ManifestError, match="tags in this manifest: bronze, silver"):
        select_processes(loaded, None, ["gold"])


@pytest.mark.parametrize("job_num", [1, 2, 3, 5])
def test_every_process_lands_on_exactly_one_shard_and_chains_stay_together(tmp_path: Path, job_num: int) -> None:
    specs: list[dict[str, Any]] = [{"name": f"p{i}"} for i in range(12)]
    specs.append({"name": "child", "depends_on": ["p3"]})
    specs.append({"name": "grandchild", "depends_on": ["child"]})
    loaded = _manifest(tmp_path, specs)
    processes = select_processes(loaded, None)
    shards = [build_plan(loaded, processes, "job", job_num=job_num, job_index=i) for i in range(job_num)]
    ran = [t.id for plan in shards for t in plan.tasks]
    assert sorted(ran) == sorted(p.name for p in processes)  # all of them, none twice
    home = next(plan for plan in shards if "p3" in {t.id for t in plan.tasks})
    assert {"child", "grandchild"} <= {t.id for t in home.tasks}
    for plan in shards:
        assert set(plan.other_shards) == {p.name for p in processes} - {t.id for t in plan.tasks}


def test_the_shard_hash_is_stable_and_spreads() -> None:
    assert [stable_shard(f"p{i}", 4) for i in range(8)] == [stable_shard(f"p{i}", 4) for i in range(8)]
    assert len({stable_shard(f"process_{i}", 4) for i in range(64)}) == 4
    with pytest.raises(ValueError):
        stable_shard("x", 0)


def test_replay_partitions_become_chained_chunks(tmp_path: Path) -> None:
    loaded = _manifest(tmp_path, [{"name": "a"}, {"name": "b", "depends_on": ["a"]}])
    plan = build_plan(
        loaded, select_processes(loaded, None), "job", partitions={"a": ["2024-01", "2024-02"], "b": ["2024-01"]}
    )
    tasks = {t.id: t for t in plan.tasks}
    assert list(tasks) == ["a@2024-01", "a@2024-02", "b@2024-01"]
    assert tasks["a@2024-02"].needs == ("a@2024-01",) and tasks["b@2024-01"].needs == ("a@2024-02",)
    assert tasks["a@2024-02"].partition == "2024-02" and tasks["a@2024-02"].run_id == "job__a__2024-02"


def test_a_bad_shard_index_is_refused(tmp_path: Path) -> None:
    loaded = _manifest(tmp_path, [{"name": "a"}])
    with pytest.raises(ManifestError, match="job_index 2"):
        build_plan(loaded, select_processes(loaded, None), "job", job_num=2, job_index=2)


def test_a_selection_needs_its_upstreams_through_processes_it_leaves_out(tmp_path: Path) -> None:
    loaded = _manifest(
        tmp_path,
        [
            {"name": "c", "depends_on": ["b"], "tags": ["x"]},
            {"name": "b", "depends_on": ["a"]},
            {"name": "a", "tags": ["x"]},
        ],
    )
    plan = build_plan(loaded, select_processes(loaded, "tag:x"), "job")
    tasks = {t.id: t for t in plan.tasks}
    assert sorted(tasks) == ["a", "c"]
    assert tasks["c"].needs == ("a",)  # c runs only after a passed, as if b were there
    assert [t.id for t in plan.tasks] == ["a", "c"]
