"""``dpone ops observability-pack`` end to end: the CLI, the dashboard's structure, and the rules under promtool.

The rules are checked by Prometheus's own ``promtool`` (``check rules``, and ``test rules`` with
input series that must and must not fire). The dashboard is validated against a JSON Schema of
the parts of Grafana's dashboard model that file provisioning reads, its grid is checked for
overlaps, and its queries are parsed by promtool (as recording rules) and checked to name
catalogue metrics only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dpone_core.observability import names
from tests.e2e.conftest import run_cli

ALERTS = ("dpone_run_passed.min=1", "dpone_run_errors.max=0", "dpone_rows_quarantined.max=0")
RUN_LABELS = 'strategy="merge",source_kind="files",sink_kind="duckdb"'
SELECT_ALL = '"$process"'

# The parts of Grafana's dashboard JSON model (schemaVersion 39) that file provisioning needs.
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/panel"}},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": {"$ref": "#/$defs/variable"}}},
        },
    },
    "$defs": {
        "datasource": {
            "type": "object",
            "required": ["type", "uid"],
            "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
        },
        "panel": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["timeseries", "stat"]},
                "title": {"type": "string", "minLength": 1},
                "datasource": {"$ref": "#/$defs/datasource"},
                "gridPos": {
                    "type": "object",
                    "required": ["x", "y", "w", "h"],
                    "properties": {
                        "x": {"type": "integer", "minimum": 0, "maximum": 23},
                        "y": {"type": "integer", "minimum": 0},
                        "w": {"type": "integer", "minimum": 1, "maximum": 24},
                        "h": {"type": "integer", "minimum": 1},
                    },
                },
                "targets": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["expr", "refId"],
                        "properties": {
                            "expr": {"type": "string", "minLength": 1},
                            "refId": {"type": "string", "pattern": "^[A-Z]$"},
                            "datasource": {"$ref": "#/$defs/datasource"},
                        },
                    },
                },
            },
        },
        "variable": {
            "type": "object",
            "required": ["name", "type"],
            "properties": {"name": {"type": "string"}, "type": {"enum": ["datasource", "query", "custom"]}},
        },
    },
}


def promtool() -> str:
    """promtool's path; missing fails under DPONE_REQUIRE_PROMTOOL=1 (scripts/test installs it), else skips."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("DPONE_REQUIRE_PROMTOOL") == "1":
        pytest.fail("promtool is not installed but DPONE_REQUIRE_PROMTOOL=1 (apt-get install prometheus)")
    pytest.skip("promtool is not installed (Debian package prometheus)")


def run_promtool(*args: str | Path) -> str:
    """Run promtool; assert exit 0 and return its output."""
    proc = subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def generate(out: Path, *extra: str, expect: int = 0) -> dict[str, Any]:
    proc = run_cli("ops", "observability-pack", "--output-dir", str(out), *extra, "--format", "json")
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("pack")
    alerts = [a for alert in ALERTS for a in ("--alert", alert)]
    return out, generate(out, "--dashboard-title", "dpone orders runtime", *alerts)


def dashboard_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "grafana_dashboard.json").read_text())


def test_json_output_lists_every_written_file_with_its_sha256(pack: tuple[Path, dict[str, Any]]) -> None:
    out, doc = pack
    assert doc["passed"] and doc["kind"] == "observability_pack"
    files = {f["name"]: f for f in doc["files"]}
    expected = {"grafana_dashboard.json", "prometheus_alerts.yml", "observability_pack.json", "observability_pack.md"}
    assert set(files) == expected == {p.name for p in out.iterdir()}
    for name, entry in files.items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest(), name
    report = json.loads((out / "observability_pack.json").read_text())
    assert report["artifacts"] == {"observability_pack.md": files["observability_pack.md"]["sha256"]}
    runbook = (out / "observability_pack.md").read_text()
    assert "dpone observability metrics-export" in runbook and "--metrics-dir" in runbook
    assert "promtool check rules prometheus_alerts.yml" in runbook


def test_dashboard_matches_the_provisioning_schema(pack: tuple[Path, dict[str, Any]]) -> None:
    dashboard = dashboard_of(pack[0])
    jsonschema.Draft202012Validator(DASHBOARD_SCHEMA).validate(dashboard)
    assert dashboard["schemaVersion"] == 39 and dashboard["title"] == "dpone orders runtime"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["process"]["definition"] == "label_values(dpone_run_passed, process)"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_grid_fits_24_columns_without_overlap(pack: tuple[Path, dict[str, Any]]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard_of(pack[0])["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for cell in ((x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])):
            assert cell not in cells, f"{panel['title']} overlaps {cells[cell]}"
            cells[cell] = panel["title"]


def test_dashboard_queries_name_catalogue_metrics_filtered_by_process(pack: tuple[Path, dict[str, Any]]) -> None:
    dashboard = dashboard_of(pack[0])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used: set[str] = set()
    for expr in exprs:
        found = re.findall(r"dpone_[a-z_]+", expr)
        assert found and set(found) <= set(names.BY_NAME), expr
        assert expr.count("dpone_") == expr.count(f"{{process=~{SELECT_ALL}}}"), expr
        used.update(found)
    # Every panel the pack promises: rows, durations, errors/warnings, quarantine, passed, lag, last run.
    assert used >= {m.name for m in names.ALL if m is not names.RUN_ATTEMPTS}


def test_dashboard_queries_parse_as_promql(pack: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Each query, with $process as Grafana's "All" (.*), becomes a recording rule promtool must accept."""
    dashboard = dashboard_of(pack[0])
    exprs = [t["expr"].replace("$process", ".*") for p in dashboard["panels"] for t in p["targets"]]
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool("check", "rules", path)


def test_dashboard_uid_is_stable_and_options_land(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", "--dashboard-title", "T")["dashboard"]["uid"]
    again = generate(tmp_path / "b", "--dashboard-title", "T")["dashboard"]["uid"]
    other = generate(tmp_path / "c", "--dashboard-title", "T", "--service-name", "etl")["dashboard"]["uid"]
    assert first == again != other
    generate(tmp_path / "d", "--process", "orders", "--process", "customers", "--datasource-uid", "prom-1")
    variables = {v["name"]: v for v in dashboard_of(tmp_path / "d")["templating"]["list"]}
    assert variables["process"]["current"]["value"] == ["orders", "customers"]
    assert variables["datasource"]["current"]["value"] == "prom-1"
    rules = yaml.safe_load((tmp_path / "d" / "prometheus_alerts.yml").read_text())["groups"][0]["rules"]
    assert all('{process=~"orders|customers"}' in r["expr"] for r in rules)


def test_rules_pass_promtool_check(pack: tuple[Path, dict[str, Any]]) -> None:
    out, doc = pack
    rules = yaml.safe_load((out / "prometheus_alerts.yml").read_text())["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [a["alert"] for a in doc["alerts"]]
    for rule in rules:
        assert set(re.findall(r"dpone_[a-z_]+", rule["expr"])) <= set(names.BY_NAME), rule["expr"]
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule)
    assert "SUCCESS: 5 rules found" in run_promtool("check", "rules", out / "prometheus_alerts.yml")


def _series(metric: str, process: str, values: str) -> dict[str, str]:
    return {"series": f'{metric}{{process="{process}",{RUN_LABELS}}}', "values": values}


def _fired(rules: dict[str, Any], alert: str, process: str, value: str = "") -> dict[str, Any]:
    """The alert expected at 5m: the rule's labels plus the series', its annotations as Prometheus renders them."""
    rule = rules[alert]
    labels = {"process": process, **rule["labels"]}
    labels.update(dict(kv.replace('"', "").split("=") for kv in RUN_LABELS.split(",")))
    annotations = {
        k: v.replace("{{ $labels.process }}", process).replace("{{ $value }}", value)
        for k, v in rule["annotations"].items()
    }
    expected = {"exp_labels": labels, "exp_annotations": annotations}
    return {"eval_time": "5m", "alertname": alert, "exp_alerts": [expected]}


def test_rules_fire_on_failing_series_only(pack: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """orders failed with 5 quarantined rows; customers passed cleanly: only orders' alerts fire."""
    series = [
        _series("dpone_run_passed", "orders", "0x10"),
        _series("dpone_run_passed", "customers", "1x10"),
        _series("dpone_rows_quarantined", "orders", "5x10"),
        _series("dpone_rows_quarantined", "customers", "0x10"),
        _series("dpone_run_errors", "customers", "0x10"),
        # Finished at t=0 (orders) and at every minute (customers); stale only once 26h have passed.
        _series("dpone_run_finished_timestamp_seconds", "orders", "0x1700"),
        _series("dpone_run_finished_timestamp_seconds", "customers", "0+60x1700"),
    ]
    rules = {
        r["alert"]: r for r in yaml.safe_load((pack[0] / "prometheus_alerts.yml").read_text())["groups"][0]["rules"]
    }
    stale = {**_fired(rules, "DponeRunStale", "orders"), "eval_time": "27h"}
    expected = [
        _fired(rules, "DponeRunFailed", "orders"),
        _fired(rules, "DponeRunPassedBelowMin", "orders", "0"),
        _fired(rules, "DponeRowsQuarantinedAboveMax", "orders", "5"),
        {"eval_time": "5m", "alertname": "DponeRunErrorsAboveMax", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "DponeRunStale", "exp_alerts": []},
        stale,
    ]
    tests = {
        "rule_files": [str(pack[0] / "prometheus_alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": expected}],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    assert "SUCCESS" in run_promtool("test", "rules", path)


@pytest.mark.parametrize(
    ("alert", "says"),
    [
        ("dpone_nope.max=1", "dpone_nope is not a dpone metric"),
        ("dpone_run_errors>0", "is not METRIC.min=VALUE"),
        ("dpone_run_errors.avg=0", "is not METRIC.min=VALUE"),
        ("dpone_run_errors.max=lots", "is not a finite number"),
    ],
)
def test_bad_alert_is_one_line_exit_2(alert: str, says: str, tmp_path: Path) -> None:
    proc = run_cli("ops", "observability-pack", "--output-dir", str(tmp_path / "out"), "--alert", alert)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "--alert" in proc.stderr and says in proc.stderr
    if "not a dpone" in says or "not METRIC" in says:
        assert all(m.name in proc.stderr for m in names.ALL)
    assert not (tmp_path / "out").exists()


def test_duplicate_alert_and_text_format(tmp_path: Path) -> None:
    twice = ("--alert", "dpone_run_errors.max=0", "--alert", "dpone_run_errors.max=3")
    proc = run_cli("ops", "observability-pack", "--output-dir", str(tmp_path / "dup"), *twice)
    assert proc.returncode == 2 and "given twice" in proc.stderr, proc.stderr
    proc = run_cli("ops", "observability-pack", "--output-dir", str(tmp_path / "ok"), "--stale-after", "0")
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("GREEN"), proc.stdout + proc.stderr
    assert "file grafana_dashboard.json sha256 " in proc.stdout and "DponeRunStale" not in proc.stdout


def test_the_original_dpone_metric_names_are_accepted_as_aliases(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    generate(out, "--alert", "dpone_error_count.max=0")
    rules = yaml.safe_load((out / "prometheus_alerts.yml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    assert "dpone_run_errors > 0" in exprs


def test_the_exported_exposition_passes_promtool_check_metrics(quickstart: Path, tmp_path: Path) -> None:
    """The metric names and types the pack queries pass Prometheus's own naming lint."""
    import dpone_core

    report = dpone_core.run(quickstart, metrics_dir=tmp_path / "metrics")
    assert report.passed
    prom = tmp_path / "metrics" / "orders" / "runtime_metrics.prom"
    proc = subprocess.run(
        [promtool(), "check", "metrics"],
        input=prom.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
