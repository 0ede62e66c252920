"""Turn dpone RunReports into Dagster events, in one place.

A passed run yields one :class:`dagster.MaterializeResult` (rows, table schema, state before and
after, evidence, duration) and one :class:`dagster.AssetCheckResult` per declared contract rule,
taken from the gate verdicts of that same run: ``passed`` -> passed, ``quarantined`` -> failed
with WARN severity and the row count, ``failed`` -> failed with ERROR severity. A run that did not
pass yields the check results it can attribute and then raises :class:`dagster.Failure` with the
report's error lines, so the step fails and nothing downstream runs.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from dpone_core.api import GateVerdict, RunReport
from dpone_core.manifest.process import Process
from dpone_dagster.translator import RULE_KEY, lineage_of_columns

DponeEvent = dg.MaterializeResult | dg.AssetCheckResult

_SEVERITY_ORDER = {"passed": 0, "skipped": 0, "applied": 0, "quarantined": 1, "failed": 2}


def _json_or_null(value: Any) -> dg.MetadataValue:
    return dg.MetadataValue.json(value) if value is not None else dg.MetadataValue.null()


def table_schema(report: RunReport) -> dg.TableSchema | None:
    """The target table's columns after the load as Dagster ``TableSchema`` (None when unknown)."""
    columns = report.result.target_schema
    if not columns:
        return None
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c["name"],
                str(c.get("physical_type") or c["type"]),
                constraints=dg.TableColumnConstraints(nullable=bool(c.get("nullable", True))),
            )
            for c in columns
        ]
    )


def column_lineage(process: Process, report: RunReport, upstream: dg.AssetKey | None) -> dg.TableColumnLineage | None:
    """Each target column fed unchanged by the same-named column of the upstream (source) asset.

    The columns are the ones OpenLineage's ``columnLineage`` facet names (one rule in
    ``dpone_core.lineage``); a query or file source has no upstream table asset, so no lineage.
    """
    if upstream is None or not report.result.target_schema:
        return None
    return lineage_of_columns(process, [str(c["name"]) for c in report.result.target_schema], upstream)


def materialize_metadata(
    reports: Sequence[RunReport],
    row_count: int | None = None,
    partition_keys: Sequence[str] = (),
    lineage: dg.TableColumnLineage | None = None,
) -> dict[str, Any]:
    """Metadata for the materialization of one process (one report, or one per partition key).

    >>> materialize_metadata([report], row_count=3835)["dagster/row_count"]  # doctest: +SKIP
    3835
    """
    first, last = reports[0], reports[-1]
    results = [r.result for r in reports]
    metadata: dict[str, Any] = {
        "dpone/status": last.status if len(reports) == 1 else ",".join(sorted({r.status for r in reports})),
        "dpone/run_id": last.run_id or "",
        "dpone/load_id": last.load_id or "",
        "dpone/strategy": last.strategy or "",
        "dpone/attempts": sum(r.attempts for r in reports),
        "dpone/extracted_rows": sum(r.extracted_rows for r in results),
        "dpone/inserted_rows": sum(r.inserted_rows for r in results),
        "dpone/updated_rows": sum(r.updated_rows for r in results),
        "dpone/deleted_rows": sum(r.deleted_rows for r in results),
        "dpone/quarantined_rows": sum(r.quarantined_rows for r in results),
        "dpone/duration_seconds": round(sum(r.duration_seconds for r in results), 3),
        "dpone/step_seconds": dg.MetadataValue.json(dict(last.result.step_seconds)),
        "dpone/state_before": _json_or_null(first.result.state_before),
        "dpone/state_after": _json_or_null(last.result.state_after),
        "dpone/report": dg.MetadataValue.md("\n".join(r.to_markdown() for r in reports)),
    }
    if row_count is not None:
        # The table's total; a partition's own count is dagster/partition_row_count (partition_metadata).
        metadata["dagster/row_count"] = row_count
    schema = table_schema(last)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    evidence = [p for r in results for p in r.evidence_paths]
    if evidence:
        json_paths = [p for p in evidence if p.endswith(".json")] or evidence
        metadata["dpone/evidence_path"] = dg.MetadataValue.path(json_paths[-1])
        metadata["dpone/evidence_paths"] = dg.MetadataValue.json(evidence)
    quarantine = [p for r in results for p in r.quarantine_paths]
    if quarantine:
        metadata["dpone/quarantine_paths"] = dg.MetadataValue.json(quarantine)
    warnings = [w for r in results for w in r.warnings]
    if warnings:
        metadata["dpone/warnings"] = dg.MetadataValue.json(warnings)
    if partition_keys:
        metadata["dpone/partitions"] = dg.MetadataValue.json(list(partition_keys))
        metadata["dpone/run_ids"] = dg.MetadataValue.json([r.run_id for r in reports])
    return metadata


def partition_metadata(report: RunReport) -> dict[str, Any]:
    """Metadata of one partition key's own load, laid over the range's metadata for that key.

    ``dagster/partition_row_count`` (Dagster's key for it) is the rows of the partition's slice the
    load delivered (read minus quarantined): a partition run reads its whole slice, so that is the slice in the target
    (for ``merge``, rows that have left the source since an earlier load are not counted). A
    load skipped because it had already committed (a step retry) reports no count.
    """
    result = report.result
    metadata: dict[str, Any] = {
        "dpone/status": report.status,
        "dpone/run_id": report.run_id or "",
        "dpone/load_id": report.load_id or "",
        "dpone/attempts": report.attempts,
        "dpone/extracted_rows": result.extracted_rows,
        "dpone/inserted_rows": result.inserted_rows,
        "dpone/updated_rows": result.updated_rows,
        "dpone/deleted_rows": result.deleted_rows,
        "dpone/quarantined_rows": result.quarantined_rows,
        "dpone/duration_seconds": round(result.duration_seconds, 3),
    }
    if report.status != "skipped":
        metadata["dagster/partition_row_count"] = result.extracted_rows - result.quarantined_rows
    json_paths = [p for p in result.evidence_paths if p.endswith(".json")] or result.evidence_paths
    if json_paths:
        metadata["dpone/evidence_path"] = dg.MetadataValue.path(json_paths[-1])
    return metadata


def attributable_verdicts(report: RunReport) -> list[GateVerdict]:
    """The verdicts a report can vouch for.

    A passed run checked every row against every rule. A failed run may have stopped early (a
    strict contract stops at the first bad batch), so only rules it saw break are attributed; the
    others are left unexecuted rather than reported as passed.
    """
    if report.passed:
        return list(report.result.gates)
    return [g for g in report.result.gates if g.failed_rows]


def check_results(
    reports: Sequence[RunReport], asset_key: dg.AssetKey, checks: Mapping[str, str]
) -> list[dg.AssetCheckResult]:
    """One result per declared check (``checks``: rule id -> check name) that the reports decide.

    Verdicts of several reports (partition keys) combine: the worst verdict wins, rows add up.
    A rule no report decided (a skipped run, or a strict failure that stopped at another rule)
    yields nothing, and Dagster shows that check as not executed.
    """
    found: dict[str, list[GateVerdict]] = {}
    quarantine_paths: list[str] = []
    for report in reports:
        verdicts = attributable_verdicts(report)
        for verdict in verdicts:
            if verdict.gate == "contract" and verdict.rule in checks:
                found.setdefault(verdict.rule, []).append(verdict)
        quarantine_paths += report.result.quarantine_paths
    results = []
    for rule_id, name in checks.items():
        matched = found.get(rule_id)
        if not matched:
            continue
        worst = max(matched, key=lambda v: _SEVERITY_ORDER[v.verdict]).verdict
        rows = sum(v.failed_rows for v in matched)
        detail = next((v.detail for v in matched if v.detail), "")
        metadata: dict[str, Any] = {RULE_KEY: rule_id, "dpone/verdict": worst, "dpone/failed_rows": rows}
        if worst == "quarantined" and quarantine_paths:
            metadata["dpone/quarantine_paths"] = dg.MetadataValue.json(quarantine_paths)
        passed = _SEVERITY_ORDER[worst] == 0
        description = (
            None
            if passed
            else f"{rows} rows {'quarantined' if worst == 'quarantined' else 'broke'} "
            f"{rule_id}" + (f": {detail}" if detail else "")
        )
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=name,
                passed=passed,
                severity=dg.AssetCheckSeverity.WARN if worst == "quarantined" else dg.AssetCheckSeverity.ERROR,
                metadata=metadata,
                description=description,
            )
        )
    return results


def failure_for(report: RunReport) -> dg.Failure:
    """The Failure that ends a step whose run did not pass; retries only for transient errors."""
    lines = [e.line for e in report.result.errors] or [f"run ended with status {report.status}"]
    retryable = report.retry_may_help
    summary = report.summary()
    return dg.Failure(
        description=f"dpone process '{report.process}' {report.status}:\n" + "\n".join(lines),
        metadata={
            "dpone/status": report.status,
            "dpone/run_id": report.run_id or "",
            "dpone/errors": dg.MetadataValue.json(lines),
            "dpone/summary": dg.MetadataValue.json(summary),
        },
        allow_retries=retryable,
    )


def report_events(
    reports: Sequence[RunReport],
    *,
    asset_key: dg.AssetKey,
    checks: Mapping[str, str],
    row_count: int | None = None,
    partition_keys: Sequence[str] = (),
    lineage: dg.TableColumnLineage | None = None,
) -> Iterator[DponeEvent]:
    """Events for one process: materialization and checks, or checks and a raised Failure.

    ``reports`` has one report per loaded partition key (one in total for an unpartitioned run);
    loading stops at the first report that did not pass, so only the last one can be failed.
    """
    last = reports[-1]
    if last.passed:
        yield dg.MaterializeResult(
            asset_key=asset_key, metadata=materialize_metadata(reports, row_count, partition_keys, lineage)
        )
    yield from check_results(reports, asset_key, checks)
    if not last.passed:
        raise failure_for(last)


class DponeEventIterator(Iterator[DponeEvent]):
    """The events of one ``DponeResource.run`` call; use it with ``yield from`` in the asset body.

    >>> @dpone_assets(manifest="orders.yaml")  # doctest: +SKIP
    ... def loads(context: dg.AssetExecutionContext, dpone: DponeResource):
    ...     yield from dpone.run(context)
    """

    def __init__(self, events: Iterator[DponeEvent]) -> None:
        self._events = events

    def __iter__(self) -> "DponeEventIterator":
        return self

    def __next__(self) -> DponeEvent:
        return next(self._events)
