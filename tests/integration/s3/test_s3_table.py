"""Parquet tables on S3 (moto): commit objects, conflicts, kills, evidence, doctor, partitions."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import dpone_core
from dpone_core.api import committed_files, read_target, states
from tests.e2e.conftest import run_cli
from tests.integration.s3.conftest import SECRET_ENV, Bucket
from tests.integration.s3.motoserver import SECRET_KEY

REPO = Path(__file__).resolve().parents[3]


def manifest(bucket: Bucket, csv: str, strategy: str = "append", **process: Any) -> Path:
    (bucket.folder / "in").mkdir(exist_ok=True)
    (bucket.folder / "in" / "d.csv").write_text(csv, encoding="utf-8")
    doc = {
        "version": 1,
        "defaults": {"runtime_evidence": {"output_dir": "evidence"}},
        "connections": {"inbox": {"type": "files", "root": "in"}, "lake": bucket.profile()},
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", "path": "d.csv", "format": "csv"},
                "sink": {"connection": "lake", "table": "raw.t", "format": "parquet", "strategy": strategy},
                **process,
            }
        ],
    }
    path = bucket.folder / "m.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run(path: Path) -> dpone_core.RunReport:
    report = dpone_core.run(path)
    assert report.passed, report.to_text()
    return report


def rows(path: Path) -> list[tuple[Any, ...]]:
    table = read_target(path, "p")
    return sorted(tuple(r.values()) for r in table.select(["id", "v"]).to_pylist())


def test_a_load_commits_one_object_naming_its_files(bucket: Bucket) -> None:
    path = manifest(bucket, "id,v\n1,a\n2,b\n")
    report = run(path)
    assert report.result.target == f"parquet:s3://{bucket.name}/raw/t"
    commits = bucket.keys("raw/t/_dpone/commits/")
    assert len(commits) == 1
    body = json.loads(bucket.client.get_object(Bucket=bucket.name, Key=commits[0])["Body"].read())
    assert body["seq"] == 1 and body["audit"]["run_id"] == report.run_id and body["states"]["p"]["load_id"]
    for data in body["files"]:
        content = bucket.client.get_object(Bucket=bucket.name, Key=data["key"])["Body"].read()
        assert (len(content), hashlib.sha256(content).hexdigest()) == (data["size"], data["sha256"])
    files = committed_files(path, "p")
    assert files == [f"s3://{bucket.name}/{d['key']}" for d in body["files"]]
    s3 = pafs.S3FileSystem(
        endpoint_override=bucket.server.url.removeprefix("http://"),
        scheme="http",
        access_key="dpone-test",
        secret_key=SECRET_KEY,
        region="us-east-1",
    )
    outside = ds.dataset([f.removeprefix("s3://") for f in files], filesystem=s3, format="parquet").to_table()
    assert sorted(outside.column("id").to_pylist()) == [1, 2]

    evidence = json.loads(Path(next(p for p in report.result.evidence_paths if p.endswith(".json"))).read_text())
    assert [o["uri"] for o in evidence["objects"]] == files
    assert all(len(o["sha256"]) == 64 and o["size_bytes"] > 0 for o in evidence["objects"])


def test_strategies_and_state_on_s3(bucket: Bucket) -> None:
    process = {"partitions": {"column": "day", "values": ["d1", "d2"]}}
    path = manifest(bucket, "id,v,day\n1,a,d1\n2,b,d2\n", strategy="partition_replace", **process)
    run(path)
    manifest(bucket, "id,v,day\n3,c,d2\n", strategy="partition_replace", **process)
    report = run(path)
    assert (report.result.inserted_rows, report.result.deleted_rows) == (1, 1)
    assert rows(path) == [(1, "a"), (3, "c")]
    manifest(bucket, "id,v,day\n9,z,d9\n", strategy="full_refresh")
    run(path)
    assert rows(path) == [(9, "z")]
    assert (states(path)["p"] or {})["load_id"] == dpone_core.api.loads(path)[0]["load_id"]


def test_a_lost_race_is_a_retryable_conflict_and_leaves_no_files(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit create meets a racing writer: a 409 from the store (injected), then a 412 (real)."""
    path = manifest(bucket, "id,v\n1,a\n")
    run(path)
    before = set(bucket.keys("raw/t/"))

    from dpone_core.connectors.s3 import store as s3_store

    real_client = s3_store.S3Store.client

    def racing_client(self: s3_store.S3Store) -> Any:
        client = real_client.func(self)  # type: ignore[attr-defined]

        def conflict(params: dict[str, Any], **_: Any) -> Any:
            # params is the serialised request here: the key is in the URL, the condition a header.
            if (
                "/_dpone/commits/" in params.get("url_path", "")
                and params.get("headers", {}).get("If-None-Match") == "*"
            ):
                error = {"Code": "ConditionalRequestConflict", "Message": "race"}
                parsed = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}
                return SimpleNamespace(status_code=409, headers={}, content=b""), parsed
            return None

        client.meta.events.register("before-call.s3.PutObject", lambda params, **kw: conflict(params))
        return client

    monkeypatch.setattr(s3_store.S3Store, "client", property(racing_client))
    manifest(bucket, "id,v\n1,a\n2,b\n")
    report = dpone_core.run(path)
    assert not report.passed
    error = report.result.errors[0]
    assert error.code == "DPONE_ALREADY_RUNNING" and error.retryable
    assert set(bucket.keys("raw/t/")) == before  # its data files were removed
    monkeypatch.undo()

    # A real 412: another writer created the next version first.
    from dpone_core.connectors.object_store.table_log import TableLog

    store = s3_store.S3Store(s3_store.S3Settings.of(dpone_core.api.load(path).manifest.connections["lake"], None))
    log = TableLog(store, "raw/t/")
    head = log.head()
    assert head is not None and log.commit(head) is False  # the same seq again: refused
    assert rows(path) == [(1, "a")]


def test_kill_9_between_the_data_files_and_the_commit_object(bucket: Bucket) -> None:
    path = manifest(bucket, "id,v\n1,a\n", strategy="full_refresh")
    run(path)
    first = set(bucket.keys("raw/t/data/"))
    manifest(bucket, "id,v\n1,a\n2,b\n", strategy="full_refresh")
    marker = bucket.folder / "paused"
    env = {**os.environ, SECRET_ENV: SECRET_KEY, "DPONE_TEST_PAUSE_AT": "commit", "DPONE_TEST_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dpone_core.cli.main", "run", str(path)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orphans = set(bucket.keys("raw/t/data/")) - first
    assert len(orphans) == 1  # the killed load's file is there, named by no version
    assert rows(path) == [(1, "a")] and len(bucket.keys("raw/t/_dpone/commits/")) == 1

    doc = json.loads(path.read_text())
    doc["processes"][0]["sink"]["options"] = {"gc_grace": "0s"}
    path.write_text(json.dumps(doc))
    run(path)  # converges, and removes the orphan first (older than a zero grace, named by no version)
    assert rows(path) == [(1, "a"), (2, "b")]
    second = {f.removeprefix(f"s3://{bucket.name}/") for f in committed_files(path, "p")}
    assert set(bucket.keys("raw/t/data/")) == first | second
    run(path)  # the next load removes what only the replaced version named
    third = {f.removeprefix(f"s3://{bucket.name}/") for f in committed_files(path, "p")}
    assert set(bucket.keys("raw/t/data/")) == second | third


def test_no_secret_in_reports_evidence_or_commit_objects(bucket: Bucket) -> None:
    path = manifest(bucket, "id,v\n1,a\n")
    report = run(path)
    texts = [report.model_dump_json()]
    texts += [Path(p).read_text() for p in report.result.evidence_paths]
    texts += [
        bucket.client.get_object(Bucket=bucket.name, Key=k)["Body"].read().decode()
        for k in bucket.keys("raw/t/_dpone/")
    ]
    assert all(SECRET_KEY not in text for text in texts)


def test_doctor_puts_and_deletes_a_probe_key_for_a_sink(bucket: Bucket) -> None:
    path = manifest(bucket, "id,v\n1,a\n")
    proc = run_cli("doctor", "--manifest", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"s3://{bucket.name}/: list, put and delete ok" in proc.stdout
    assert bucket.keys("_dpone/") == []


def test_a_delta_table_on_s3_merges_and_keeps_the_state_in_its_log(bucket: Bucket) -> None:
    deltalake = pytest.importorskip("deltalake")
    path = manifest(bucket, "id,v\n1,a\n2,b\n", strategy="merge")
    doc = json.loads(path.read_text())
    doc["processes"][0]["sink"].update(format="delta", primary_key=["id"])
    path.write_text(json.dumps(doc))
    run(path)
    (bucket.folder / "in" / "d.csv").write_text("id,v\n2,B\n3,c\n")
    report = run(path)
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 1)
    assert rows(path) == [(1, "a"), (2, "B"), (3, "c")]
    assert report.result.target == f"delta:s3://{bucket.name}/raw/t"
    assert any(k.startswith("raw/t/_delta_log/") for k in bucket.keys("raw/t/"))
    options = {
        "AWS_ENDPOINT_URL": bucket.server.url, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "dpone-test", "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }  # fmt: skip
    table = deltalake.DeltaTable(f"s3://{bucket.name}/raw/t", storage_options=options)
    assert table.transaction_version("dpone:p") == 2
    assert (states(path)["p"] or {})["load_id"] == report.load_id
    log = [
        bucket.client.get_object(Bucket=bucket.name, Key=k)["Body"].read().decode()
        for k in bucket.keys("raw/t/_delta_log/")
    ]
    assert all(SECRET_KEY not in text for text in log)


def test_scd2_on_a_delta_table_on_s3(bucket: Bucket) -> None:
    pytest.importorskip("deltalake")
    path = manifest(bucket, "id,v\n1,a\n2,b\n", strategy="scd2")
    doc = json.loads(path.read_text())
    doc["processes"][0]["sink"].update(format="delta", primary_key=["id"], table="raw.h")
    path.write_text(json.dumps(doc))
    run(path)
    (bucket.folder / "in" / "d.csv").write_text("id,v,w\n2,B,1\n")
    report = run(path)
    assert (report.result.inserted_rows, report.result.updated_rows) == (1, 1)
    versions = read_target(path, "p").to_pylist()
    assert sorted((r["id"], r["v"], r["w"], r["is_current"]) for r in versions if r["id"] == 2) == [
        (2, "B", 1, True),
        (2, "b", None, False),
    ]
