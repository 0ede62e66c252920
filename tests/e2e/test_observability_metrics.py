"""``dpone observability metrics-export`` on real quickstart runs: files, Pushgateway, OTLP, bad input.

Every destination is real: the ``.prom`` file is parsed back with prometheus_client's own parser,
the Pushgateway and the OTLP collector are a small HTTP server on 127.0.0.1 that records what it
receives, and the OpenTelemetry path is read back through the SDK's ``InMemoryMetricReader``.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families

import dpone_core
from dpone_core.cli.main import cli
from dpone_core.durable import sha256_file
from dpone_core.observability import names, otlp
from dpone_core.observability.export import export_run_metrics
from dpone_core.observability.samples import RunSamples, cursor_time, parse_time
from tests.e2e.conftest import run_cli

RUN_LABELS = {"process": "orders", "strategy": "merge", "source_kind": "files", "sink_kind": "duckdb"}
Key = tuple[str, frozenset[tuple[str, str]]]


def _prom(path: Path) -> dict[Key, float]:
    """(name, labels) -> value of a Prometheus text exposition."""
    found: dict[Key, float] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(found: dict[Key, float], name: str, **labels: str) -> float:
    return found[(name, frozenset({**RUN_LABELS, **labels}.items()))]


def _export(*args: str) -> Any:
    """``dpone observability metrics-export ARGS --format json`` in-process; returns the result."""
    return CliRunner().invoke(cli, ["observability", "metrics-export", *args, "--format", "json"])


@pytest.fixture()
def report_file(quickstart: Path, tmp_path: Path) -> tuple[dpone_core.RunReport, Path]:
    """The quickstart run for real, and its ``dpone run --format json`` document on disk."""
    report = dpone_core.run(quickstart)
    assert report.passed, report.to_text()
    path = tmp_path / "run.json"
    path.write_text(report.to_json(), encoding="utf-8")
    return report, path


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to every PUT/POST and keeps (method, path, headers, body)."""

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append((self.command, self.path, headers, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads what was received instead."""


@pytest.fixture()
def server() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    """A real HTTP server on a free 127.0.0.1 port: its base URL and what it received."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.received  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_metrics_export_writes_prom_and_json_with_the_reports_numbers(
    report_file: tuple[dpone_core.RunReport, Path], tmp_path: Path
) -> None:
    report, path = report_file
    out = tmp_path / "metrics"
    done = run_cli("observability", "metrics-export", "--run-report", str(path), "--output-dir", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote {out / 'runtime_metrics.prom'}" in done.stdout

    found = _prom(out / "runtime_metrics.prom")
    result = report.result
    assert _value(found, "dpone_rows_extracted") == result.extracted_rows == 4000
    assert _value(found, "dpone_rows_inserted") == result.inserted_rows == 3835
    assert _value(found, "dpone_rows_quarantined") == result.quarantined_rows == 165
    assert _value(found, "dpone_run_passed") == 1
    assert _value(found, "dpone_run_errors") == 0 and _value(found, "dpone_run_attempts") == 1
    assert _value(found, "dpone_run_duration_seconds") == pytest.approx(result.duration_seconds)
    assert result.step_seconds and {"extract", "finalize"} <= set(result.step_seconds)
    for step, seconds in result.step_seconds.items():
        assert _value(found, "dpone_step_duration_seconds", step=step) == pytest.approx(seconds)
    finished, cursor = parse_time(report.finished_at), cursor_time(result.state_after)
    assert finished is not None and cursor is not None  # the quickstart's cursor is a timestamp
    lag = _value(found, "dpone_cursor_lag_seconds")
    assert lag > 0 and lag == pytest.approx((finished - cursor).total_seconds())
    assert _value(found, "dpone_run_finished_timestamp_seconds") == pytest.approx(finished.timestamp())
    assert {name for name, _ in found} <= set(names.BY_NAME)

    document = json.loads((out / "runtime_metrics.json").read_text(encoding="utf-8"))
    assert document["input"] == {"path": str(path), "sha256": sha256_file(path)}
    assert document["artifacts"]["runtime_metrics.prom"] == sha256_file(out / "runtime_metrics.prom")
    (run,) = document["runs"]
    assert (run["run_id"], run["load_id"], run["process"], run["status"]) == (
        report.run_id,
        report.load_id,
        "orders",
        "succeeded",
    )
    from_json = {(m["name"], frozenset(m["labels"].items())): m["value"] for m in run["metrics"]}
    assert from_json == found
    assert all(m["unit"] == names.BY_NAME[m["name"]].unit for m in run["metrics"])


def test_otlp_records_the_same_names_units_and_values(report_file: tuple[dpone_core.RunReport, Path]) -> None:
    report, _ = report_file
    run = RunSamples.of(report)
    reader = InMemoryMetricReader()
    otlp.record([run], reader)
    data = reader.get_metrics_data()
    assert data is not None
    (metrics,) = [scope.metrics for rm in data.resource_metrics for scope in rm.scope_metrics]
    points = {
        (m.name, frozenset((k, str(v)) for k, v in p.attributes.items())): (p.value, m.unit, m.description)
        for m in metrics
        for p in m.data.data_points
    }
    expected = {(s.name, frozenset(s.labels.items())): (s.value, s.metric.unit, s.metric.help) for s in run.samples}
    assert points == expected
    assert points[("dpone_rows_inserted", frozenset(RUN_LABELS.items()))][0] == 3835


def test_otlp_export_posts_the_samples_to_a_collector(
    report_file: tuple[dpone_core.RunReport, Path], server: tuple[str, list[Any]]
) -> None:
    report, path = report_file
    url, received = server
    result = _export("--run-report", str(path), "--otlp-endpoint", f"{url}/v1/metrics")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pushed"] == [f"{url}/v1/metrics"]
    ((method, where, headers, body),) = received
    assert (method, where, headers["content-type"]) == ("POST", "/v1/metrics", "application/x-protobuf")
    request = ExportMetricsServiceRequest.FromString(body)
    sent = {
        (m.name, frozenset((a.key, a.value.string_value) for a in p.attributes)): p.as_double
        for rm in request.resource_metrics
        for scope in rm.scope_metrics
        for m in scope.metrics
        for p in m.gauge.data_points
    }
    assert sent == {(s.name, frozenset(s.labels.items())): s.value for s in RunSamples.of(report).samples}


def test_push_gateway_receives_the_group_of_the_process(
    report_file: tuple[dpone_core.RunReport, Path], server: tuple[str, list[Any]], tmp_path: Path
) -> None:
    report, path = report_file
    url, received = server
    gateway = url.replace("http://", "http://ops:s3cret-pw@")
    done = run_cli(
        "observability", "metrics-export", "--run-report", str(path), "--push-gateway", gateway,
        "--output-dir", str(tmp_path / "m"), "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["pushed"] == [f"{url}/metrics/job/dpone/process/orders"]
    assert "s3cret-pw" not in done.stdout + done.stderr
    ((method, where, headers, body),) = received
    assert (method, where) == ("PUT", "/metrics/job/dpone/process/orders")
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ops:s3cret-pw").decode()
    pushed = tmp_path / "pushed.prom"
    pushed.write_bytes(body)
    found = _prom(pushed)
    assert found == _prom(tmp_path / "m" / "runtime_metrics.prom")
    assert _value(found, "dpone_rows_inserted") == report.result.inserted_rows


def test_a_failed_run_exports_passed_0_and_its_errors(quickstart: Path, tmp_path: Path) -> None:
    text = quickstart.read_text(encoding="utf-8").replace("enforcement: quarantine", "enforcement: strict")
    quickstart.write_text(text, encoding="utf-8")
    report = dpone_core.run(quickstart)
    assert not report.passed and report.result.errors
    path = tmp_path / "failed.json"
    path.write_text(report.to_json(), encoding="utf-8")
    result = _export("--run-report", str(path), "--output-dir", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output  # the export worked; the run's failure is in the numbers
    found = _prom(tmp_path / "m" / "runtime_metrics.prom")
    labels = {"process": "orders", "strategy": "merge"}
    by_name = {name: value for (name, got), value in found.items() if labels.items() <= dict(got).items()}
    assert by_name["dpone_run_passed"] == 0 and by_name["dpone_run_errors"] >= 1


def test_every_process_of_a_job_gets_its_own_samples(project: Callable[..., Path], tmp_path: Path) -> None:
    manifest = project(
        "id,v\n1,a\n2,b\n",
        """
        - name: p
          source: {connection: inbox, path: data.csv, format: csv}
          sink: {connection: wh, table: t, strategy: merge, primary_key: [id]}
        - name: q
          source: {connection: inbox, path: data.csv, format: csv}
          sink: {connection: wh, table: u, strategy: full_refresh}
        """,
    )
    job = run_cli("orchestrate", "stage", str(manifest), "--max-workers", "1", "--output-dir", str(tmp_path / "job"))
    assert job.returncode == 0, job.stdout + job.stderr
    result = _export("--run-report", str(tmp_path / "job" / "execution_result.json"), "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(r["process"] for r in json.loads(result.stdout)["runs"]) == ["p", "q"]
    found = _prom(tmp_path / "runtime_metrics.prom")
    inserted = {dict(labels)["process"]: v for (name, labels), v in found.items() if name == "dpone_rows_inserted"}
    assert inserted == {"p": 2, "q": 2}
    strategies = {dict(labels)["strategy"] for (name, labels), _ in found.items() if name == "dpone_run_passed"}
    assert strategies == {"merge", "full_refresh"}


def test_an_airflow_xcom_summary_exports_what_it_knows(report_file: tuple[dpone_core.RunReport, Path]) -> None:
    report, _ = report_file
    xcom = {**report.summary(), "target": report.result.target, "partition": None, "phase": "load"}
    path = report_file[1].with_name("xcom.json")
    path.write_text(json.dumps(xcom), encoding="utf-8")
    result = _export("--run-report", str(path), "--output-dir", str(path.parent / "x"))
    assert result.exit_code == 0, result.output
    found = {name: v for (name, _), v in _prom(path.parent / "x" / "runtime_metrics.prom").items()}
    assert found["dpone_rows_inserted"] == 3835 and found["dpone_run_passed"] == 1
    assert "dpone_run_finished_timestamp_seconds" not in found  # a summary carries no finish time


@pytest.mark.parametrize("content", [None, "not json", '{"hello": "world"}', "[1, 2]"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = run_cli("observability", "metrics-export", "--run-report", str(path), "--output-dir", str(tmp_path / "m"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "metrics-export" in done.stderr and str(path) in done.stderr
    assert not (tmp_path / "m").exists()


def test_an_unreachable_push_gateway_is_one_line_and_exit_1(
    report_file: tuple[dpone_core.RunReport, Path], tmp_path: Path
) -> None:
    _, path = report_file
    gateway = f"http://ops:s3cret-pw@127.0.0.1:{_closed_port()}"
    done = run_cli(
        "observability", "metrics-export", "--run-report", str(path), "--push-gateway", gateway,
        "--output-dir", str(tmp_path / "m"),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "step push-gateway" in line and gateway.replace("ops:s3cret-pw@", "") in line, line
    assert "s3cret-pw" not in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "m" / "runtime_metrics.prom").is_file()  # the files are written before any push


def test_the_library_export_without_files_pushes_only(
    report_file: tuple[dpone_core.RunReport, Path], server: tuple[str, list[Any]]
) -> None:
    report, _ = report_file
    url, received = server
    done = export_run_metrics([report], output_dir=None, push_gateway=url, job="nightly")
    assert done.written == () and done.pushed == (f"{url}/metrics/job/nightly/process/orders",)
    assert [where for _, where, _, _ in received] == ["/metrics/job/nightly/process/orders"]


def test_the_user_doc_lists_the_catalogue_as_it_is() -> None:
    """docs/observability.md's metric table is names.py's content, row for row."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    for metric in names.ALL:
        unit = f"`{metric.unit}`" if metric.unit else "-"
        assert f"| `{metric.name}` | {unit} | {', '.join(metric.labels)} | {metric.help} |" in doc, metric.name
    listed = {line.split("`")[1] for line in doc.splitlines() if line.startswith("| `dpone_")}
    assert listed == set(names.BY_NAME)


def test_without_the_extra_the_export_names_the_install(
    report_file: tuple[dpone_core.RunReport, Path], tmp_path: Path
) -> None:
    """prometheus_client made unimportable (as on a core-only install): one line naming the extra, exit 2."""
    _, path = report_file
    code = "import sys; sys.modules['prometheus_client'] = None; from dpone_core.cli.main import main; main()"
    args = ["observability", "metrics-export", "--run-report", str(path), "--output-dir", str(tmp_path / "m")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "pip install 'dpone[observability]'" in line and "prometheus_client" in line
