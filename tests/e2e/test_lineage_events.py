"""OpenLineage events of real runs: START and COMPLETE/FAIL with facets, query sources, transports."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

import dpone_core
from dpone_core.lineage.events import openlineage_run_id
from tests.e2e.conftest import run_cli
from tests.openlineage_schema import validate_event


def _file_transport(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")


def _events(path: Path) -> list[dict[str, Any]]:
    """The events the file transport wrote, each checked against the OpenLineage JSON Schema."""
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for event in events:
        validate_event(event)
    return events


def test_a_run_emits_start_and_complete_with_facets(quickstart: Path, tmp_path: Path, monkeypatch) -> None:
    events_file = tmp_path / "events.jsonl"
    _file_transport(monkeypatch, events_file)
    report = dpone_core.run(quickstart)
    assert report.passed, report.to_text()
    start, complete = _events(events_file)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"] == openlineage_run_id(report.run_id or "")
    assert complete["job"] == {"namespace": "dpone", "name": "orders", "facets": {}}
    dpone_facet = complete["run"]["facets"]["dpone"]
    assert (dpone_facet["run_id"], dpone_facet["load_id"]) == (report.run_id, report.load_id)
    assert "errorMessage" not in complete["run"]["facets"]

    (output,) = complete["outputs"]
    assert output["namespace"] == f"duckdb://{quickstart.parent}/.dpone/warehouse.duckdb"
    fields = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert fields["id"] == "BIGINT" and fields["amount"] == "NUMERIC(18, 2)"  # the target's own types
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3835
    email = output["facets"]["columnLineage"]["fields"]["email"]["inputFields"][0]
    assert (email["namespace"], email["field"]) == ("file", "email")
    (source,) = complete["inputs"]
    assert source["inputFacets"]["inputStatistics"]["rowCount"] == 4000
    assertions = {a["assertion"]: a for a in source["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["amount.min"]["success"] is False and assertions["amount.min"]["actual"] == "41"
    assert "facets" not in start["outputs"][0] or not start["outputs"][0]["facets"]


def test_a_failed_run_emits_fail_with_the_error(quickstart: Path, tmp_path: Path, monkeypatch) -> None:
    events_file = tmp_path / "events.jsonl"
    _file_transport(monkeypatch, events_file)
    text = quickstart.read_text(encoding="utf-8").replace("enforcement: quarantine", "enforcement: strict")
    quickstart.write_text(text, encoding="utf-8")
    report = dpone_core.run(quickstart)
    assert not report.passed
    _, final = _events(events_file)
    assert final["eventType"] == "FAIL"
    message = final["run"]["facets"]["errorMessage"]["message"]
    assert report.result.errors[0].code in message
    assert "outputStatistics" not in final["outputs"][0].get("outputFacets", {})


def test_a_query_source_names_the_tables_it_reads(tmp_path: Path, monkeypatch) -> None:
    events_file = tmp_path / "events.jsonl"
    _file_transport(monkeypatch, events_file)
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.execute("CREATE SCHEMA sales")
        con.execute("CREATE TABLE sales.customers AS SELECT range AS id, 'c' || range AS email FROM range(5)")
        con.execute("CREATE TABLE sales.orders AS SELECT range AS id, range % 5 AS customer_id FROM range(20)")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        """
version: 1
connections:
  shop: {type: duckdb, path: shop.duckdb}
  out: {type: duckdb, path: out.duckdb}
processes:
  - name: enriched
    source:
      connection: shop
      query: >
        with o as (select * from sales.orders)
        select o.id, c.email from o join sales.customers c on c.id = o.customer_id
    sink: {connection: out, table: main.enriched, strategy: full_refresh}
""",
        encoding="utf-8",
    )
    report = dpone_core.run(manifest)
    assert report.passed, report.to_text()
    _, complete = _events(events_file)
    shop = f"duckdb://{tmp_path}/shop.duckdb"
    assert sorted((d["namespace"], d["name"]) for d in complete["inputs"]) == [
        (shop, "sales.customers"),
        (shop, "sales.orders"),
    ]
    assert "columnLineage" not in complete["outputs"][0]["facets"]  # a query may rename or compute


def test_openlineage_off_in_the_manifest_sends_nothing(quickstart: Path, tmp_path: Path, monkeypatch) -> None:
    events_file = tmp_path / "events.jsonl"
    _file_transport(monkeypatch, events_file)
    text = quickstart.read_text(encoding="utf-8")
    quickstart.write_text(text.replace("processes:\n", "observability: {openlineage: 'off'}\nprocesses:\n", 1))
    assert dpone_core.run(quickstart).passed
    assert not events_file.exists()


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A real HTTP endpoint on 127.0.0.1 that records the events posted to it."""
    handler = type("Handler", (_Collector,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    finally:
        server.shutdown()


def test_dpone_run_posts_events_to_openlineage_url(quickstart: Path, collector) -> None:
    url, received = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    proc = run_cli("run", str(quickstart), "--format", "json", env={**env, "OPENLINEAGE_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert [(path, event["eventType"]) for path, event in received] == [
        ("/api/v1/lineage", "START"),
        ("/api/v1/lineage", "COMPLETE"),
    ]
    assert json.loads(proc.stdout)["result"]["warnings"] == []


def test_an_unreachable_collector_is_a_warning_not_a_failure(quickstart: Path, tmp_path: Path) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    port = closed.server_address[1]
    closed.server_close()
    # An openlineage.yml with no retries: the client's default retries a dead collector for ~20 s.
    config = tmp_path / "openlineage.yml"
    config.write_text(
        f"transport: {{type: http, url: 'http://127.0.0.1:{port}', timeout: 2, retry: {{total: 0}}}}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    proc = run_cli("run", str(quickstart), "--format", "json", env={**env, "OPENLINEAGE_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(proc.stdout)["result"]["warnings"]
    assert any(w.startswith("OpenLineage: event not sent") for w in warnings), warnings
    assert "Traceback" not in proc.stderr
