"""The Grafana dashboard of the observability pack, as the JSON model Grafana's file provisioning loads.

Every query names metrics from :mod:`dpone_core.observability.names` only, each filtered by
``process=~"$process"``, so the dashboard shows exactly what ``dpone run --metrics-dir`` and
``dpone observability metrics-export`` write. The data source is a ``datasource`` template
variable, so one file works in every Grafana whatever its Prometheus data source is called.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from dpone_core.observability import names

SCHEMA_VERSION = 39
"""The dashboard JSON model version written (Grafana 10.4 / 11)."""
GRID_COLUMNS = 24
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROCESS_FILTER = '{process=~"$process"}'


@dataclass(frozen=True)
class Panel:
    """One panel: its title, kind, queries (``(expr, legend)``), unit and size on the grid."""

    title: str
    kind: str
    """``stat`` (the latest value) or ``timeseries`` (its history)."""
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""


def _q(metric: names.MetricName, legend: str = "{{process}}") -> tuple[str, str]:
    """A query of one catalogue metric, filtered by the ``process`` variable."""
    return metric.name + PROCESS_FILTER, legend


def _since(metric: names.MetricName) -> tuple[str, str]:
    """Seconds since a timestamp metric (how long ago the latest run finished)."""
    return f"time() - {metric.name}{PROCESS_FILTER}", "{{process}}"


PANELS: tuple[Panel, ...] = (
    Panel("Last run passed", "stat", (_q(names.RUN_PASSED),), "bool_yes_no", 6, 4, names.RUN_PASSED.help),
    Panel("Errors", "stat", (_q(names.RUN_ERRORS),), "short", 6, 4, names.RUN_ERRORS.help),
    Panel("Rows quarantined", "stat", (_q(names.ROWS_QUARANTINED),), "short", 6, 4, names.ROWS_QUARANTINED.help),
    Panel("Time since last run", "stat", (_since(names.RUN_FINISHED),), "s", 6, 4, names.RUN_FINISHED.help),
    Panel(
        "Rows",
        "timeseries",
        tuple(
            _q(metric, "{{process}} " + metric.name.removeprefix("dpone_rows_"))
            for metric in (names.ROWS_EXTRACTED, names.ROWS_INSERTED, names.ROWS_UPDATED, names.ROWS_DELETED)
        ),
        description="Rows the latest run extracted, inserted, updated and deleted.",
    ),
    Panel("Run duration", "timeseries", (_q(names.RUN_DURATION),), "s", description=names.RUN_DURATION.help),
    Panel(
        "Step durations",
        "timeseries",
        (_q(names.STEP_DURATION, "{{process}} {{step}}"),),
        "s",
        description=names.STEP_DURATION.help,
    ),
    Panel(
        "Errors and warnings",
        "timeseries",
        (_q(names.RUN_ERRORS, "{{process}} errors"), _q(names.RUN_WARNINGS, "{{process}} warnings")),
        description="Errors and warnings the latest run reported.",
    ),
    Panel("Quarantined rows", "timeseries", (_q(names.ROWS_QUARANTINED),), description=names.ROWS_QUARANTINED.help),
    Panel("Run passed", "timeseries", (_q(names.RUN_PASSED),), "bool_yes_no", description=names.RUN_PASSED.help),
    Panel("Cursor lag", "timeseries", (_q(names.CURSOR_LAG),), "s", description=names.CURSOR_LAG.help),
    Panel("Run attempts", "timeseries", (_q(names.RUN_ATTEMPTS),), description=names.RUN_ATTEMPTS.help),
)
"""The dashboard's panels, in reading order: the latest verdict first, then the history."""


def dashboard_uid(service_name: str, title: str) -> str:
    """A uid stable across regenerations (so re-provisioning updates, not duplicates, the dashboard)."""
    digest = hashlib.sha256(f"{service_name}\0{title}".encode()).hexdigest()
    return f"dpone-{digest[:16]}"


def layout(panels: tuple[Panel, ...]) -> list[dict[str, int]]:
    """Grid positions, left to right, wrapping at 24 columns; a row is as tall as its tallest panel."""
    positions: list[dict[str, int]] = []
    x = y = row_height = 0
    for panel in panels:
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        positions.append({"x": x, "y": y, "w": panel.width, "h": panel.height})
        x += panel.width
        row_height = max(row_height, panel.height)
    return positions


def _panel_model(panel_id: int, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    """One panel's JSON model (refIds A, B, ... in query order)."""
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
        for i, (expr, legend) in enumerate(panel.queries)
    ]
    model: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
    }
    if panel.kind == "stat":
        # Each metric holds the latest run's value, so the stat shows the last one, not an average.
        model["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    return model


def _templating(processes: list[str], datasource_uid: str | None) -> dict[str, Any]:
    """The ``datasource`` variable (any Prometheus) and the ``process`` variable (read from the metrics)."""
    datasource: dict[str, Any] = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": True, "text": datasource_uid, "value": datasource_uid} if datasource_uid else {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }
    query = f"label_values({names.RUN_PASSED.name}, process)"
    process: dict[str, Any] = {
        "name": "process",
        "label": "Process",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "ProcessVariable"},
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "sort": 1,
        "current": (
            {"selected": True, "text": processes, "value": processes}
            if processes
            else {"selected": True, "text": ["All"], "value": ["$__all"]}
        ),
        "options": [],
    }
    return {"list": [datasource, process]}


def build_dashboard(
    service_name: str, title: str, processes: list[str], datasource_uid: str | None = None
) -> dict[str, Any]:
    """The dashboard model: panels laid out on the 24-column grid, variables, tags, refresh."""
    panels = [_panel_model(i, p, g) for i, (p, g) in enumerate(zip(PANELS, layout(PANELS), strict=True), start=1)]
    return {
        "title": title,
        "uid": dashboard_uid(service_name, title),
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "tags": ["dpone", service_name],
        "timezone": "browser",
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "panels": panels,
        "templating": _templating(processes, datasource_uid),
        "annotations": {"list": []},
    }


def exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard (panels' targets and the process variable's query)."""
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    found += [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return found
