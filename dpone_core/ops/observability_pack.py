"""``dpone ops observability-pack``: a Grafana dashboard and Prometheus alert rules for dpone's metrics.

:func:`observability_pack` builds the dashboard (:mod:`dpone_core.ops.grafana_dashboard`), the
alerting rules and the report; :func:`write_pack` writes ``grafana_dashboard.json``,
``prometheus_alerts.yml`` and ``observability_pack.json/.md``. Every query and rule names metrics
from the catalogue (:mod:`dpone_core.observability.names`) only; the report checks that itself and
is red if a name outside the catalogue ever slips in. Nothing here reads a run or a connection.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dpone_core.durable import sha256_file, write_json, write_text
from dpone_core.errors import ConfigurationError
from dpone_core.observability import names
from dpone_core.ops import grafana_dashboard
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report

KIND = "observability_pack"
STEM = "observability_pack"
DASHBOARD_FILE = "grafana_dashboard.json"
RULES_FILE = "prometheus_alerts.yml"
METRIC_NAME = re.compile(r"dpone_[a-z_]+")
_ALERT = re.compile(r"^(?P<metric>[a-z_:][a-z0-9_:]*)\.(?P<bound>min|max)=(?P<value>.+)$")
DEFAULT_STALE_AFTER = 26 * 3600
"""A daily job plus two hours of slack."""


@dataclass(frozen=True)
class Threshold:
    """``--alert metric.min=V`` (fires when the metric is below V) or ``metric.max=V`` (above V)."""

    metric: str
    bound: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Parse ``metric.min=V`` / ``metric.max=V``; anything else is a configuration error naming the option."""
        valid = ", ".join(m.name for m in names.ALL)
        match = _ALERT.match(text.strip())
        if not match:
            raise ConfigurationError(
                f"--alert {text!r} is not METRIC.min=VALUE or METRIC.max=VALUE", fix=f"use one of: {valid}"
            )
        metric = names.ALIASES.get(match["metric"], match["metric"])
        if metric not in names.BY_NAME:
            raise ConfigurationError(
                f"--alert {text!r}: {match['metric']} is not a dpone metric", fix=f"use one of: {valid}"
            )
        try:
            value = float(match["value"])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigurationError(f"--alert {text!r}: {match['value']!r} is not a finite number", fix="give e.g. =0")
        return cls(metric, match["bound"], value)

    @property
    def operator(self) -> str:
        """The comparison that fires the alert."""
        return "<" if self.bound == "min" else ">"

    @property
    def alert_name(self) -> str:
        """``DponeRunErrorsAboveMax`` for ``dpone_run_errors.max``."""
        words = self.metric.removeprefix("dpone_").split("_")
        return "Dpone" + "".join(w.capitalize() for w in words) + ("BelowMin" if self.bound == "min" else "AboveMax")


@dataclass(frozen=True)
class PackOptions:
    """What the command was given."""

    service_name: str = "dpone"
    dashboard_title: str = ""
    """Empty: ``<service_name> runtime``."""
    processes: list[str] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    datasource_uid: str | None = None
    stale_after_seconds: int = DEFAULT_STALE_AFTER
    """0: no staleness alert."""


@dataclass
class ObservabilityPack:
    """The two generated documents and the report about them."""

    dashboard: dict[str, Any]
    rules: dict[str, Any]
    report: OpsReport


def number(value: float) -> str:
    """A PromQL literal: ``0`` rather than ``0.0`` where the value is whole."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _selector(processes: list[str]) -> str:
    """The rules' label filter: the named processes only, or every process."""
    if not processes:
        return ""
    # A regex inside a PromQL string literal: regex-escape the name, then string-escape \\ and ".
    alternatives = "|".join(re.escape(p).replace("\\", "\\\\").replace('"', '\\"') for p in processes)
    return '{process=~"' + alternatives + '"}'


def _rule(name: str, expr: str, severity: str, summary: str, description: str, service: str) -> dict[str, Any]:
    """One alerting rule.

    ``for: 1m``: the gauges keep the latest run's value until the next run, so a real problem
    persists while a one-evaluation blip (a target briefly re-scraped mid-restart) does not page.
    """
    return {
        "alert": name,
        "expr": expr,
        "for": "1m",
        "labels": {"severity": severity, "service": service},
        "annotations": {"summary": summary, "description": description, "runbook": f"see {STEM}.md"},
    }


def build_rules(options: PackOptions) -> dict[str, Any]:
    """The rule file: failure, staleness (unless disabled) and one rule per threshold, in one group."""
    sel, service = _selector(options.processes), options.service_name
    where = "{{ $labels.process }}"
    rules = [
        _rule(
            "DponeRunFailed",
            f"{names.RUN_PASSED.name}{sel} == 0",
            "critical",
            f"dpone process {where}: the latest run failed",
            "Read the run report (dpone run-report) and follow dpone ops recovery-plan.",
            service,
        )
    ]
    if options.stale_after_seconds > 0:
        rules.append(
            _rule(
                "DponeRunStale",
                f"time() - {names.RUN_FINISHED.name}{sel} > {options.stale_after_seconds}",
                "warning",
                f"dpone process {where}: no run finished for {options.stale_after_seconds}s",
                "The scheduler may have stopped starting the process; check its last run and schedule.",
                service,
            )
        )
    for t in options.thresholds:
        limit = number(t.value)
        side = "below the minimum" if t.bound == "min" else "above the maximum"
        summary = f"dpone process {where}: {t.metric} is {{{{ $value }}}}, {side} {limit}"
        expr = f"{t.metric}{sel} {t.operator} {limit}"
        rules.append(_rule(t.alert_name, expr, "warning", summary, names.BY_NAME[t.metric].help, service))
    return {"groups": [{"name": f"{service}.runs", "rules": rules}]}


def _unknown_names(exprs: list[str]) -> list[str]:
    """Metric names in ``exprs`` that the catalogue does not export (never expected: a self-check)."""
    return sorted({n for e in exprs for n in METRIC_NAME.findall(e) if n not in names.BY_NAME})


def observability_pack(options: PackOptions) -> ObservabilityPack:
    """Build the dashboard, the rules and the report (red only if a query names an unknown metric)."""
    if not options.service_name.strip():
        raise ConfigurationError("--service-name is empty", fix="give --service-name a name (dpone)")
    keys = [(t.metric, t.bound) for t in options.thresholds]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        raise ConfigurationError(f"--alert {duplicate[0]}.{duplicate[1]} is given twice", fix="give each bound once")
    title = options.dashboard_title.strip() or f"{options.service_name} runtime"
    dashboard = grafana_dashboard.build_dashboard(
        options.service_name, title, options.processes, options.datasource_uid
    )
    rules = build_rules(options)
    rule_list = rules["groups"][0]["rules"]
    all_exprs = grafana_dashboard.exprs(dashboard) + [r["expr"] for r in rule_list]
    blockers = [f"query names {n}, which is not in the metric catalogue" for n in _unknown_names(all_exprs)]
    payload = {
        "service_name": options.service_name,
        "processes": list(options.processes),
        "datasource_uid": options.datasource_uid,
        "dashboard": {
            "title": dashboard["title"],
            "uid": dashboard["uid"],
            "schema_version": dashboard["schemaVersion"],
            "panels": [{"title": p["title"], "type": p["type"]} for p in dashboard["panels"]],
        },
        "alerts": [{"alert": r["alert"], "expr": r["expr"], "severity": r["labels"]["severity"]} for r in rule_list],
        "metrics": sorted({n for e in all_exprs for n in METRIC_NAME.findall(e)}),
        "files": [],
    }
    return ObservabilityPack(dashboard, rules, OpsReport(KIND, payload, blockers))


def render_markdown(report: OpsReport) -> str:
    """The operator summary: files, panels, alerts, and the runbook to feed, provision and load them."""
    data = report.to_dict()
    lines = [f"# Observability pack `{data['service_name']}`", "", f"**{data['status'].upper()}**", ""]
    lines += [f"* BLOCKER {b}" for b in report.blockers] or ["No blockers."]
    files = [(f["name"], f["sha256"]) for f in data["files"]]
    lines += ["", "## Files", "", *markdown_table(("file", "sha256"), files)]
    dash = data["dashboard"]
    lines += ["", f"## Dashboard `{dash['title']}` (uid `{dash['uid']}`)", ""]
    lines += markdown_table(("panel", "type"), [(p["title"], p["type"]) for p in dash["panels"]])
    lines += ["", "## Alerts", "", *markdown_table(("alert", "severity", "expr"), _alert_rows(data["alerts"]))]
    lines += ["", "## Runbook", "", *_runbook(data)]
    return "\n".join(lines) + "\n"


def _alert_rows(alerts: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [(a["alert"], a["severity"], f"`{a['expr']}`") for a in alerts]


def _runbook(data: dict[str, Any]) -> list[str]:
    """Where the metrics come from, how to provision the dashboard and load the rules, what to do on an alert."""
    return [
        "1. **Export the metrics.** `dpone run MANIFEST --metrics-dir DIR` (or the manifest's "
        "`observability: {metrics_dir: DIR}`) writes `DIR/<process>/runtime_metrics.prom` after every run; "
        "`dpone observability metrics-export --run-report REPORT.json --output-dir DIR` does the same from a "
        "saved run report. Point node_exporter's textfile collector at DIR, or use `push_gateway:` / "
        "`otlp_endpoint:`. Metrics used: " + ", ".join(f"`{m}`" for m in data["metrics"]) + ".",
        f"2. **Provision the dashboard.** Copy `{DASHBOARD_FILE}` into a folder named by a Grafana dashboard "
        "provider (`/etc/grafana/provisioning/dashboards/*.yaml`, `providers[].options.path`), or import it "
        "in the UI. Pick the Prometheus data source in the `datasource` variable; the `process` variable "
        "lists processes from `dpone_run_passed`. The uid is stable, so a regenerated file updates the "
        "same dashboard.",
        f"3. **Load the rules.** `promtool check rules {RULES_FILE}`, then add the file to `rule_files:` in "
        "prometheus.yml and reload Prometheus (SIGHUP or `POST /-/reload`). Route on the `service` and "
        "`severity` labels in Alertmanager.",
        "4. **On `DponeRunFailed`**: read the run report (`dpone run-report`), run `dpone ops recovery-plan`, "
        "fix and re-run the process. **On `DponeRunStale`**: check the scheduler started the process. "
        "**On a threshold alert**: compare the run's report and evidence with the limit; quarantined rows "
        "are under the process's quarantine folder.",
    ]


def _file_entry(path: Path) -> dict[str, str]:
    return {"name": path.name, "path": str(path), "sha256": sha256_file(path)}


def write_pack(pack: ObservabilityPack, output_dir: Path) -> WrittenReport:
    """Write the dashboard and rules, then the report naming their sha256 (and the Markdown's).

    After writing, the report's ``files`` also lists its own two files, so the command's output
    names every written file with its checksum (a file cannot hold its own sha256).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    dashboard_path, rules_path = output_dir / DASHBOARD_FILE, output_dir / RULES_FILE
    write_json(dashboard_path, pack.dashboard)
    write_text(rules_path, yaml.safe_dump(pack.rules, sort_keys=False, default_flow_style=False, width=1000))
    files: list[dict[str, str]] = pack.report.payload["files"]
    files[:] = [_file_entry(dashboard_path), _file_entry(rules_path)]
    written = write_report(pack.report, output_dir, STEM, render_markdown(pack.report))
    files += [
        {"name": written.json_path.name, "path": str(written.json_path), "sha256": written.json_sha256},
        {"name": written.markdown_path.name, "path": str(written.markdown_path), "sha256": written.markdown_sha256},
    ]
    return written
