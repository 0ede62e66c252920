"""A Parquet table's commit builds on the version whose state the run read, or it does not commit."""

from __future__ import annotations

from pathlib import Path

import yaml

import dpone_core
from dpone_core.checkpoints import listen


def test_a_load_committed_after_this_run_read_its_state_makes_this_run_fail_cleanly(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    csv = tmp_path / "in" / "d.csv"
    csv.write_text("id,n\n1,1\n2,2\n", encoding="utf-8")
    doc = {
        "version": 1,
        "connections": {"inbox": {"type": "files", "root": "in"}, "lake": {"type": "files", "root": "lake"}},
        "processes": [{"name": "p", "source": {"connection": "inbox", "path": "d.csv", "format": "csv",
                                               "incremental": {"cursor": "n"}},
                       "sink": {"connection": "lake", "table": "raw.t", "format": "parquet", "strategy": "append"}}],
    }  # fmt: skip
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert dpone_core.run(m).passed
    csv.write_text("id,n\n1,1\n2,2\n3,3\n", encoding="utf-8")
    other: list[dpone_core.RunReport] = []
    started: list[bool] = []

    def another_run_commits_meanwhile(name: str) -> None:
        if name == "stage" and not started:
            started.append(True)
            other.append(dpone_core.run(m))  # reads the same state, commits first

    stop = listen(another_run_commits_meanwhile)
    try:
        late = dpone_core.run(m)
    finally:
        stop()
    assert other[0].passed and other[0].result.inserted_rows == 1, other[0].to_text()
    assert not late.passed and late.result.errors[0].code == "DPONE_ALREADY_RUNNING"
    assert sorted(r["id"] for r in dpone_core.read_target(m, "p").to_pylist()) == [1, 2, 3]  # row 3 once
