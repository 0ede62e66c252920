"""``dpone ops benchmark-slo-gate``: measured metrics against a baseline and against objectives.

Metrics are ``{name: number}``, or a benchmark results file (``benchmarks/results.py``) flattened
to ``<case>.<field>``. A baseline entry is ``{"value": V, "direction": "higher"|"lower",
"tolerance": T}`` (``T`` a fraction: 0.1 lets a higher-is-better metric fall to 0.9 V) or a bare
number, whose direction comes from the metric's name; a results file works as a baseline too. An
objective is ``{"min": A, "max": B}`` (either or both). The gate is red when a metric regresses
beyond its tolerance, misses an objective, or is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report

KIND = "benchmark_slo_gate"
STEM = "benchmark_slo_gate"
RESULTS_KIND = "benchmark_results"
RESULT_FIELDS = ("rows_per_second", "ratio_to_raw", "seconds", "peak_rss_mb")
# Name endings whose better direction is obvious, so a bare baseline number needs no direction.
HIGHER = ("rows_per_second", "ratio_to_raw", "throughput", "throughput_rows_per_second")
LOWER = ("seconds", "peak_rss_mb", "rss_mb", "lag_seconds", "latency_ms", "latency_seconds")


@dataclass(frozen=True)
class Check:
    """One comparison: a metric against a baseline or an objective bound."""

    metric: str
    check: str
    """``baseline`` or ``objective``."""
    value: float | None
    limit: float | None
    """The number the value had to reach (baseline after tolerance, or the objective bound)."""
    passed: bool
    detail: str


def metrics_of(document: Any, option: str) -> dict[str, float]:
    """``{name: number}`` from a metrics object or a benchmark results file (booleans are not numbers)."""
    if not isinstance(document, dict):
        raise ConfigurationError(f"{option} is not a JSON object", fix="give {name: number} or a results file")
    if document.get("kind") == RESULTS_KIND:
        flat = {}
        for case in document.get("cases") or []:
            for name in RESULT_FIELDS:
                if isinstance(case, dict) and _number(case.get(name)):
                    flat[f"{case.get('case')}.{name}"] = float(case[name])
        return flat
    return {k: float(v) for k, v in document.items() if _number(v)}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _direction(metric: str, entry: dict[str, Any]) -> str:
    """The entry's direction, else the one its name implies; neither is a configuration error."""
    direction = entry.get("direction") or (
        "higher" if metric.endswith(HIGHER) else "lower" if metric.endswith(LOWER) else None
    )
    if direction not in ("higher", "lower"):
        raise ConfigurationError(
            f"--baseline-json {metric}: direction must be higher or lower", fix='add "direction": "higher"'
        )
    return str(direction)


def _baseline_entries(document: Any) -> dict[str, dict[str, Any]]:
    """Each baseline metric as ``{value, direction?, tolerance?}``."""
    if isinstance(document, dict) and document.get("kind") == RESULTS_KIND:
        return {k: {"value": v} for k, v in metrics_of(document, "--baseline-json").items()}
    if not isinstance(document, dict):
        raise ConfigurationError("--baseline-json is not a JSON object", fix='give {"metric": {"value": 1}}')
    entries = {}
    for metric, given in document.items():
        entry = {"value": given} if _number(given) else given
        if not isinstance(entry, dict) or not _number(entry.get("value")):
            raise ConfigurationError(f"--baseline-json {metric}: needs a numeric value", fix='give {"value": 100}')
        entries[metric] = entry
    return entries


def _against_baseline(metric: str, entry: dict[str, Any], metrics: dict[str, float]) -> Check:
    direction, base = _direction(metric, entry), float(entry["value"])
    tolerance = float(entry.get("tolerance") or 0)
    if not 0 <= tolerance < 1:
        raise ConfigurationError(f"--baseline-json {metric}: tolerance must be in [0, 1)", fix="0.1 for 10%")
    limit = base * (1 - tolerance) if direction == "higher" else base * (1 + tolerance)
    value = metrics.get(metric)
    if value is None:
        return Check(metric, "baseline", None, limit, False, "metric missing")
    passed = value >= limit if direction == "higher" else value <= limit
    change = (value - base) / base * 100 if base else 0.0
    word = "at least" if direction == "higher" else "at most"
    detail = f"{value:g} vs baseline {base:g} ({change:+.1f}%), needs {word} {limit:g}"
    return Check(metric, "baseline", value, limit, passed, detail)


def _against_objective(metric: str, bounds: Any, metrics: dict[str, float]) -> list[Check]:
    if not isinstance(bounds, dict) or not any(_number(bounds.get(k)) for k in ("min", "max")):
        raise ConfigurationError(f"--objectives-json {metric}: needs min or max", fix='give {"max": 300}')
    value = metrics.get(metric)
    checks = []
    for key in ("min", "max"):
        if not _number(bounds.get(key)):
            continue
        bound = float(bounds[key])
        passed = value is not None and (value >= bound if key == "min" else value <= bound)
        detail = "metric missing" if value is None else f"{value:g}, {key} {bound:g}"
        checks.append(Check(metric, "objective", value, bound, passed, detail))
    return checks


def slo_gate(metrics_doc: Any, baseline_doc: Any, objectives_doc: Any) -> OpsReport:
    """Compare: every baseline entry and objective bound is one check; a failed one is a blocker."""
    metrics = metrics_of(metrics_doc, "--metrics-json")
    if not isinstance(objectives_doc, dict):
        raise ConfigurationError("--objectives-json is not a JSON object", fix='give {"metric": {"max": 1}}')
    checks = [_against_baseline(m, e, metrics) for m, e in _baseline_entries(baseline_doc).items()]
    for metric, bounds in objectives_doc.items():
        checks += _against_objective(metric, bounds, metrics)
    if not checks:
        raise ConfigurationError("nothing to check: baseline and objectives are empty", fix="give one of them")
    blockers = [f"{c.check} {c.metric}: {c.detail}" for c in checks if not c.passed]
    return OpsReport(KIND, {"metrics": metrics, "checks": [asdict(c) for c in checks]}, blockers)


def render_markdown(report: OpsReport) -> str:
    """The gate for a reviewer: verdict and one row per check."""
    data = report.to_dict()
    rows = [(c["metric"], c["check"], "ok" if c["passed"] else "FAIL", c["detail"]) for c in data["checks"]]
    lines = ["# Benchmark SLO gate", "", f"**{data['status'].upper()}**", ""]
    lines += markdown_table(("metric", "check", "result", "detail"), rows)
    return "\n".join(lines) + "\n"


def write_gate(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``benchmark_slo_gate.json`` and ``.md`` in ``output_dir``."""
    return write_report(report, output_dir, STEM, render_markdown(report))
