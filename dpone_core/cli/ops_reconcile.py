"""``dpone ops reconcile``: a thin adapter over :mod:`dpone_core.ops.reconcile` (registered on ``ops``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.cli.options import registry_option
from dpone_core.errors import ConfigurationError, DponeError
from dpone_core.ops.artifacts import OpsReport

__all__ = ["ops"]


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--key a,b --key c`` as ``(a, b, c)``."""
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


@ops.command("reconcile")
@click.option("--source-rows-json", help="Source rows: a JSON array of objects, or @file.json.")
@click.option("--target-rows-json", help="Target rows: a JSON array of objects, or @file.json.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), help="Compare a process's tables.")
@click.option("--selector", "-s", help="The process (with --manifest).")
@registry_option
@click.option("--key", multiple=True, help="Key column(s), comma-separated (default: the sink's primary_key).")
@click.option("--compare-columns", multiple=True, help="Compared columns, comma-separated (default: all common).")
@click.option("--delete-column", help="Source column marking a row deleted (true: the target must not have it).")
@click.option("--where", help="SQL condition both tables are filtered by (SQL sides only; your SQL, no values).")
@click.option("--mode", type=click.Choice(["auto", "segments", "full"]), default="auto", show_default=True)
@click.option("--segments", type=click.IntRange(2, 4096), default=64, show_default=True, help="Segments per level.")
@click.option(
    "--bisection-threshold",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Fetch a differing segment of at most this many rows.",
)
@click.option(
    "--max-rows-listed",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="Repair actions listed in the report.",
)
@click.option(
    "--max-repair-rows", type=click.IntRange(0), default=100_000, show_default=True, help="Actions kept for a repair."
)
@click.option("--delete-extra", is_flag=True, help="Target rows the source lacks get delete actions.")
@click.option(
    "--portable-hash",
    is_flag=True,
    help="Hash with MD5 even when both sides are one engine (checksums comparable across systems and runs).",
)
@click.option("--repair", is_flag=True, help="Print the repair plan; with --yes apply it (then reconcile again).")
@click.option("--yes", is_flag=True, help="Apply the repair to the target.")
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Write reconciliation_report.json/.md here."
)
@FORMAT_OPTION
def reconcile(output_dir: Path | None, output_format: str, **options: Any) -> None:
    """Compare source and target by key (segment checksums in the databases); exit 1 on any difference."""
    from dpone_core.ops import reconcile as service

    try:
        report = _report(service, options)
        written = service.write(report, output_dir) if output_dir is not None else None
    except DponeError as exc:
        bad_input(exc)
    finish(report, output_format, written, _text)


def _report(service: Any, o: dict[str, Any]) -> OpsReport:
    from dpone_core.reconcile import ReconcileOptions

    rows_form = o["source_rows_json"] is not None or o["target_rows_json"] is not None
    if rows_form == (o["manifest_path"] is not None):
        raise ConfigurationError(
            "give either --source-rows-json and --target-rows-json, or --manifest and -s",
            step="reconcile",
            fix="dpone ops reconcile --manifest m.yaml -s orders",
        )
    # Each side of a process has its own connection, so a level's two queries may run at once.
    options = ReconcileOptions(
        o["segments"],
        o["bisection_threshold"],
        o["max_repair_rows"],
        o["delete_extra"],
        o["mode"],
        not rows_form,
        native_hash=not o["portable_hash"],
    )
    key, columns = _names(o["key"]), _names(o["compare_columns"]) or None
    if rows_form:
        if o["source_rows_json"] is None or o["target_rows_json"] is None or not key:
            raise ConfigurationError("the JSON-rows form needs both row sets and --key", step="reconcile")
        if o["repair"] and o["yes"]:
            raise ConfigurationError("--repair --yes needs a target: use --manifest and -s", step="reconcile")
        result = service.reconcile_json(
            o["source_rows_json"], o["target_rows_json"], key, columns, o["delete_column"], options
        )
        return service.build_report(result, {"form": "json_rows"}, o["max_rows_listed"])
    return _process_report(service, o, options, key, columns)


def _process_report(service: Any, o: dict[str, Any], options: Any, key: tuple[str, ...], columns: Any) -> OpsReport:
    from dpone_core.api import load
    from dpone_core.manifest.selectors import select_one
    from dpone_core.ops import reconcile_repair

    if not o["selector"]:
        raise ConfigurationError("--manifest needs -s PROCESS", step="reconcile")
    loaded = load(o["manifest_path"], o["registry"])
    process = select_one(loaded.manifest, o["selector"])
    scope = service.Scope(key, columns, o["delete_column"], o["where"])
    inputs = {"form": "process", "manifest": str(o["manifest_path"]), "process": process.name}
    result = service.reconcile_process(loaded, process, scope, options)
    if not (o["repair"] and o["yes"]) or result.passed:
        return service.build_report(
            result, {**inputs, "repair": "plan" if o["repair"] else "none"}, o["max_rows_listed"]
        )
    with tempfile.TemporaryDirectory(prefix="dpone-reconcile-") as folder:
        loads = reconcile_repair.repair(loaded, process, result, Path(folder))
    after = service.reconcile_process(loaded, process, scope, options)
    repaired = {"before": result.to_dict(o["max_rows_listed"]), "loads": loads}
    report = service.build_report(after, {**inputs, "repair": "applied"}, o["max_rows_listed"])
    report.payload["repair"] = repaired
    report.blockers += [
        f"repair {x['load']} load {x['status']}: {'; '.join(x['errors'])}" for x in loads if not x["passed"]
    ]
    return report


def _text(report: OpsReport) -> list[str]:
    p = report.payload
    lines = [
        f"{p['source']} -> {p['target']} by {', '.join(p['key'])} ({p['mode']})",
        f"rows source={p['source_rows']} target={p['target_rows']} missing={p['missing_count']} "
        f"extra={p['extra_count']} mismatch={p['mismatch_count']} deleted={p['delete_count']}",
        f"checksums source={p['source_checksum']} target={p['target_checksum']}",
    ]
    lines += [f"{a['action']} {a['key']} {','.join(a['columns'])}".rstrip() for a in p["repair_actions"]]
    if p["repair_action_count"] > p["repair_actions_listed"]:
        lines.append(f"... {p['repair_action_count'] - p['repair_actions_listed']} more action(s)")
    if "repair" in p:
        lines += [f"repair {x['load']}: {x['rows']} row(s) {x['status']}" for x in p["repair"]["loads"]]
    return lines
