"""``dpone ops catalog-publish`` and ``dpone ops lineage-export`` on a real quickstart run.

The quickstart is run once per module (in-process), registered, published and exported with the
real CLI; dbt (its own venv, .venv-dbt) then parses the generated sources, checks their freshness
against the real audit table and runs their tests against the loaded table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest
import sqlglot
import yaml

import dpone_core
from dpone_core.durable import sha256_file
from dpone_core.lineage.events import openlineage_run_id
from dpone_core.model import LineageDataset
from dpone_core.ops.catalog_model import CatalogTable
from dpone_core.ops.dbt_sources import loaded_at_query
from tests.conftest import QUICKSTART
from tests.e2e.conftest import query, run_cli
from tests.openlineage_schema import validate_event
from tests.side_tools import side_tool

SECRET = "s3cr3t-catalog-Pa55"
CRM = "  crm:\n    type: postgres\n    host: localhost\n    database: crm\n    user: reader\n"
CRM += "    password: ${env:DPONE_CATALOG_TEST_PASSWORD}\n"


@dataclass(frozen=True)
class Published:
    """One quickstart run, registered, published and exported."""

    folder: Path
    manifest: Path
    run_id: str
    entry: Path
    catalog: Path
    lineage: Path
    publication: dict[str, Any]


def _ops(*args: str, expect: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_cli("ops", *args, "--format", "json", env=env)
    assert done.returncode == expect, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    folder = tmp_path_factory.mktemp("catalog") / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(".dpone", "__pycache__"))
    manifest = folder / "orders.yaml"
    text = manifest.read_text(encoding="utf-8").replace("connections:\n", "connections:\n" + CRM, 1)
    manifest.write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPONE_CATALOG_TEST_PASSWORD", SECRET)
        report = dpone_core.run(manifest)
        assert report.passed, report.to_text()
        result = folder / "run_result.json"
        result.write_text(report.to_json(), encoding="utf-8")
        registry = folder / "registry"
        _ops("run-registry", "--run-result", str(result), "--output-dir", str(registry), expect=0)
        entry = registry / f"{report.run_id}__run_registry.json"
        common = ("--run-registry-entry", str(entry), "--manifest", str(manifest))
        publication = _ops("catalog-publish", *common, "--output-dir", str(folder / "catalog"), expect=0)
        _ops("lineage-export", *common, "--output-dir", str(folder / "lineage"), expect=0)
        yield Published(
            folder, manifest, str(report.run_id), entry, folder / "catalog", folder / "lineage", publication
        )


def test_catalog_files_are_checksummed_and_the_event_is_valid_openlineage(published: Published) -> None:
    doc = published.publication
    assert doc["passed"] and doc["event_type"] == "COMPLETE" and doc["run"]["report_source"] == "run_result"
    assert {f["name"] for f in doc["files"]} == {
        "openlineage_catalog_event.json",
        "dbt_sources.yml",
        "datahub_mcp.json",
    }
    for item in doc["files"]:
        assert sha256_file(Path(item["path"])) == item["sha256"]
    written = json.loads((published.catalog / "catalog_publication.json").read_text())
    assert written["artifacts"] == {"catalog_publication.md": sha256_file(published.catalog / "catalog_publication.md")}
    event = json.loads((published.catalog / "openlineage_catalog_event.json").read_text())
    validate_event(event)
    assert event["eventType"] == "COMPLETE" and event["run"]["runId"] == openlineage_run_id(published.run_id)
    assert event["job"]["name"] == "orders" and event["run"]["facets"]["dpone"]["run_id"] == published.run_id
    fields = {f["name"]: f["type"] for f in event["outputs"][0]["facets"]["schema"]["fields"]}
    assert fields["amount"] == "NUMERIC(18, 2)"


def test_datahub_proposals_have_the_mcp_shape(published: Published) -> None:
    proposals = json.loads((published.catalog / "datahub_mcp.json").read_text())
    assert [p["aspectName"] for p in proposals] == ["datasetProperties", "schemaMetadata", "upstreamLineage"]
    urn = "urn:li:dataset:(urn:li:dataPlatform:duckdb,analytics.orders,PROD)"
    for proposal in proposals:
        assert (proposal["entityType"], proposal["entityUrn"], proposal["changeType"]) == ("dataset", urn, "UPSERT")
        assert set(proposal["aspect"]) == {"json"}
    properties, schema, lineage = (p["aspect"]["json"] for p in proposals)
    assert properties["customProperties"]["dpone_run_id"] == published.run_id
    assert properties["description"].startswith("Orders from the shop export")
    by_name = {f["fieldPath"]: f for f in schema["fields"]}
    assert by_name["amount"]["nativeDataType"] == "NUMERIC(18, 2)" and by_name["id"]["isPartOfKey"]
    assert by_name["amount"]["type"] == {"type": {"com.linkedin.schema.NumberType": {}}}
    assert schema["primaryKeys"] == ["id"] and not by_name["id"]["nullable"]
    (upstream,) = lineage["upstreams"]
    assert upstream["type"] == "COPY" and upstream["dataset"].startswith("urn:li:dataset:(urn:li:dataPlatform:file,/")


def test_lineage_export_writes_start_and_final_with_the_catalog_run_id(published: Published) -> None:
    events = json.loads((published.lineage / "openlineage_events.json").read_text())
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
    catalog = json.loads((published.catalog / "openlineage_catalog_event.json").read_text())
    assert {e["run"]["runId"] for e in events} == {catalog["run"]["runId"]}
    report = json.loads((published.lineage / "lineage_export.json").read_text())
    assert report["files"][0]["sha256"] == sha256_file(published.lineage / "openlineage_events.json")


def test_emit_sends_the_events_through_the_configured_transport(published: Published, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    args = ("lineage-export", "--run-registry-entry", str(published.entry), "--manifest", str(published.manifest))
    done = run_cli("ops", *args, "--output-dir", str(tmp_path / "none"), "--emit", env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--emit needs an OpenLineage transport" in done.stderr
    sent = tmp_path / "sent.jsonl"
    env |= {"OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(sent)}
    env["OPENLINEAGE__TRANSPORT__APPEND"] = "true"
    assert _ops(*args, "--output-dir", str(tmp_path / "out"), "--emit", expect=0, env=env)["emitted"]
    lines = [json.loads(line) for line in sent.read_text().splitlines() if line.strip()]
    assert [e["eventType"] for e in lines] == ["START", "COMPLETE"]
    for event in lines:
        validate_event(event)
        event["run"]["facets"].pop("tags", None)  # the client tags what it sends with its own version
    assert lines == json.loads((tmp_path / "out" / "openlineage_events.json").read_text())


def test_no_written_file_holds_the_secret(published: Published) -> None:
    written = [p for d in (published.catalog, published.lineage, published.entry.parent) for p in d.iterdir()]
    assert len(written) >= 8
    for path in written:
        assert SECRET not in path.read_text(encoding="utf-8"), path


def test_without_a_manifest_the_options_name_the_datasets(published: Published, tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    args = ("--input", "postgres=public.orders", "--output", "mssql=landing.orders", "--namespace", "dpone.local")
    doc = _ops(
        "catalog-publish", "--run-registry-entry", str(published.entry), *args, "--output-dir", str(out), expect=0
    )
    event = json.loads((out / "openlineage_catalog_event.json").read_text())
    validate_event(event)
    assert event["job"] == {"namespace": "dpone.local", "name": "orders", "facets": {}}
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("postgres", "public.orders")]
    assert "columnLineage" not in event["outputs"][0]["facets"]  # nothing known maps column to column
    (table,) = yaml.safe_load((out / "dbt_sources.yml").read_text())["sources"][0]["tables"]
    assert "from [dbo].[__dpone__loads] where [process] = 'orders'" in table["config"]["loaded_at_query"]
    assert doc["run"]["openlineage_run_id"] == openlineage_run_id(published.run_id)


def test_a_run_result_gone_from_disk_is_read_from_the_entry(published: Published, tmp_path: Path) -> None:
    entry = json.loads(published.entry.read_text())
    entry["run_result"]["path"] = str(tmp_path / "gone.json")
    moved = tmp_path / "entry.json"
    moved.write_text(json.dumps(entry))
    args = ("--run-registry-entry", str(moved), "--manifest", str(published.manifest))
    doc = _ops("catalog-publish", *args, "--output-dir", str(tmp_path / "out"), expect=0)
    assert doc["run"]["report_source"] == "registry_entry" and doc["event_type"] == "COMPLETE"
    validate_event(json.loads((tmp_path / "out" / "openlineage_catalog_event.json").read_text()))


def test_a_failed_run_publishes_fail_and_is_red(quickstart: Path) -> None:
    text = quickstart.read_text(encoding="utf-8").replace("enforcement: quarantine", "enforcement: strict")
    quickstart.write_text(text, encoding="utf-8")
    report = dpone_core.run(quickstart, run_id="strict_run")
    assert not report.passed
    result = quickstart.parent / "run_result.json"
    result.write_text(report.to_json(), encoding="utf-8")
    registry = quickstart.parent / "registry"
    _ops("run-registry", "--run-result", str(result), "--output-dir", str(registry), expect=1)
    entry = registry / "strict_run__run_registry.json"
    out = quickstart.parent / "catalog"
    doc = _ops(
        "catalog-publish",
        "--run-registry-entry",
        str(entry),
        "--manifest",
        str(quickstart),
        "--output-dir",
        str(out),
        expect=1,
    )
    assert doc["blockers"][0].startswith("run.red: run strict_run ended failed") and doc["event_type"] == "FAIL"
    event = json.loads((out / "openlineage_catalog_event.json").read_text())
    validate_event(event)
    assert report.result.errors[0].code in event["run"]["facets"]["errorMessage"]["message"]


@pytest.mark.parametrize("case", ["missing_entry", "tampered_result", "unknown_selector"])
def test_bad_inputs_are_one_line_and_exit_2(published: Published, tmp_path: Path, case: str) -> None:
    entry, extra = published.entry, ["--manifest", str(published.manifest)]
    if case == "missing_entry":
        entry = tmp_path / "nope__run_registry.json"
    elif case == "tampered_result":
        shutil.copytree(published.entry.parent, tmp_path / "registry")
        document = json.loads((tmp_path / "registry" / entry.name).read_text())
        result = tmp_path / "run_result.json"
        original = Path(document["run_result"]["path"]).read_text()
        assert '"attempts": 1' in original
        result.write_text(original.replace('"attempts": 1', '"attempts": 2'))
        document["run_result"]["path"] = str(result)
        entry = tmp_path / "registry" / entry.name
        entry.write_text(json.dumps(document))
    else:
        extra += ["--selector", "no_such_process"]
    for command in ("catalog-publish", "lineage-export"):
        done = run_cli("ops", command, "--run-registry-entry", str(entry), *extra, "--output-dir", str(tmp_path / "o"))
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert f"step {command}" in done.stderr and "Fix:" in done.stderr
    assert not (tmp_path / "o").exists()


def test_sql_literals_survive_dbt_jinja_in_every_dialect() -> None:
    name = "it's {{ not_jinja }} {% raw %} \\ {#"
    for system, dialect in (
        ("duckdb", "duckdb"),
        ("postgres", "postgres"),
        ("mssql", "tsql"),
        ("clickhouse", "clickhouse"),
    ):
        dataset = LineageDataset("x://y", "s.t", system)
        table = CatalogTable(name, "src", system, dialect, "s", "t", dataset, "meta {{ x }}")
        sql = loaded_at_query(table)
        assert sql is not None
        rendered = jinja2.Environment().from_string(sql).render(adapter=_Quoting(), this={"database": "db"})
        parsed = sqlglot.parse_one(rendered, read=dialect)
        (literal,) = [
            lit.this for lit in parsed.find_all(sqlglot.exp.Literal) if lit.is_string and lit.this != "committed"
        ]
        assert literal == name, (dialect, rendered)
        assert "meta {{ x }}" in rendered


class _Quoting:
    @staticmethod
    def quote(text: str) -> str:
        return '"' + text + '"'


def _dbt() -> Path:
    return side_tool(".venv-dbt", "dbt", override="DPONE_DBT", require="DPONE_REQUIRE_DBT", what="dbt")


def _dbt_project(published: Published, folder: Path) -> Path:
    (folder / "models").mkdir(parents=True)
    shutil.copy(published.catalog / "dbt_sources.yml", folder / "models" / "sources.yml")
    project = {"name": "dpone_catalog_check", "version": "1.0", "config-version": 2, "profile": "dpone_check"}
    (folder / "dbt_project.yml").write_text(yaml.safe_dump(project))
    db = published.folder / ".dpone" / "warehouse.duckdb"
    output = {"type": "duckdb", "path": str(db), "threads": 1}
    profile = {"dpone_check": {"target": "local", "outputs": {"local": output}}}
    (folder / "profiles.yml").write_text(yaml.safe_dump(profile))
    return folder


def test_dbt_parses_checks_freshness_and_runs_the_contract_tests(published: Published, tmp_path: Path) -> None:
    dbt = _dbt()
    assert dbt is not None
    project = _dbt_project(published, tmp_path / "dbt")
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PARTIAL_PARSE": "false"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        where = ("--project-dir", str(project), "--profiles-dir", str(project))
        return subprocess.run(
            [str(dbt), *args, *where], check=False, capture_output=True, text=True, env=env, timeout=300
        )

    parsed = run("parse", "--warn-error")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    fresh = run("source", "freshness")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    (result,) = json.loads((project / "target" / "sources.json").read_text())["results"]
    db = published.folder / ".dpone" / "warehouse.duckdb"
    (finished,) = query(db, "SELECT max(finished_at) FROM __dpone__loads WHERE status = 'committed'")[0]
    assert result["status"] == "pass" and result["max_loaded_at"] == finished.isoformat()
    tested = run("test")
    assert tested.returncode == 0 and "PASS=6 WARN=0 ERROR=0" in tested.stdout, tested.stdout
    for name in ("not_null_warehouse_orders_id", "unique_warehouse_orders_id", "accepted_values_warehouse_orders"):
        assert name in tested.stdout
    # The tests read the loaded table: a row outside the contract makes them fail.
    bad = "INSERT INTO analytics.orders (id, customer_id, amount, status, updated_at) VALUES (-1, 1, 1, 'lost', now())"
    with duckdb.connect(str(db)) as con:
        con.execute(bad)
    try:
        failing = run("test", "--select", "test_name:accepted_values")
    finally:
        with duckdb.connect(str(db)) as con:
            con.execute("DELETE FROM analytics.orders WHERE id = -1")
    assert failing.returncode == 1 and "ERROR=1" in failing.stdout, failing.stdout
