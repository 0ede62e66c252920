"""Asset checks that stand alone: results from ``dpone_core.check`` against the table as it is now.

Two uses:

* a run that selects an asset's contract checks without the asset (the UI's "Execute checks",
  ``dagster asset check``) checks the table instead of loading it, per selected partition;
* :func:`build_dpone_asset_checks` adds checks of their own from the audit table: the row count
  the committed loads account for (``dpone_row_count``) and freshness (``dpone_freshness``, with
  ``max_age``), runnable on any schedule, for tables dpone loads.
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_core.api import GateVerdict, TableCheckReport
from dpone_core.api import check as dpone_check
from dpone_core.api import processes as select_processes
from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_dagster.resource import DponeResource
from dpone_dagster.translator import (
    MANIFEST_KEY,
    PROCESS_KEY,
    REGISTRY_KEY,
    RULE_KEY,
    DponeTranslator,
    metadata_text,
    metadata_texts,
)

ROW_COUNT_CHECK = "dpone_row_count"
FRESHNESS_CHECK = "dpone_freshness"
MAX_AGE_KEY = "dpone/max_age_seconds"
_AUDIT_RULES = {ROW_COUNT_CHECK: "load.row_count", FRESHNESS_CHECK: "load.freshness"}
_ORDER = {"passed": 0, "skipped": 0, "applied": 0, "quarantined": 1, "failed": 2}


def combined_verdicts(reports: Sequence[TableCheckReport]) -> dict[str, GateVerdict]:
    """Rule id -> the worst verdict over ``reports`` (one per checked partition), failed rows added up."""
    combined: dict[str, GateVerdict] = {}
    for report in reports:
        for verdict in report.verdicts:
            seen = combined.get(verdict.rule)
            if seen is None:
                combined[verdict.rule] = verdict
                continue
            worst = verdict if _ORDER[verdict.verdict] > _ORDER[seen.verdict] else seen
            rows = seen.failed_rows + verdict.failed_rows
            combined[verdict.rule] = worst.model_copy(update={"failed_rows": rows})
    return combined


def table_check_results(
    reports: Sequence[TableCheckReport], asset_key: dg.AssetKey, checks: Mapping[str, str]
) -> Iterator[dg.AssetCheckResult]:
    """One result per check in ``checks`` (rule id -> check name) the reports decided.

    A check the reports could not run (no connection, a bad partition) ends the step with a
    Failure carrying the one-line errors, so Dagster shows the checks as failed to execute.
    """
    errors = [e.line for report in reports for e in report.errors]
    if errors:
        raise dg.Failure(description="dpone check could not run:\n" + "\n".join(errors), allow_retries=True)
    verdicts = combined_verdicts(reports)
    rows = sum(r.checked_rows for r in reports)
    for rule_id, name in checks.items():
        verdict = verdicts.get(rule_id)
        if verdict is None:
            continue
        passed = verdict.verdict != "failed"
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                RULE_KEY: rule_id,
                "dpone/verdict": verdict.verdict,
                "dpone/failed_rows": verdict.failed_rows,
                "dpone/checked_rows": rows,
                "dpone/partitions": [r.partition for r in reports if r.partition],
            },
            description=None if passed and not verdict.detail else verdict.detail or None,
        )


def check_reports(
    loaded: LoadedManifest, process: str, partition_keys: Sequence[str | None], max_age: float | None = None
) -> list[TableCheckReport]:
    """``dpone_core.check`` of one process for each partition key (``[None]``: the whole table)."""
    return [dpone_check(loaded, process, partition=key, max_age=max_age) for key in partition_keys]


def build_dpone_asset_checks(
    manifest: str | Path | LoadedManifest,
    selector: str | None = None,
    translator: DponeTranslator | None = None,
    *,
    max_age: float | str | timedelta | None = None,
    blocking: bool = False,
    registry_paths: Sequence[str | Path] = (),
    resource_key: str = "dpone",
) -> list[dg.AssetChecksDefinition]:
    """Audit-table checks for the selected processes' assets, one definition per process.

    Each asset gets ``dpone_row_count`` (its rows against what the committed loads account for)
    and, with ``max_age`` (seconds, ``"6h"``, a timedelta), ``dpone_freshness``. They read the
    table and ``__dpone__loads`` read-only and never load anything.

    >>> checks = build_dpone_asset_checks("orders.yaml", max_age="1d")  # doctest: +SKIP
    >>> defs = dg.Definitions(assets=build_dpone_assets("orders.yaml"), asset_checks=checks,  # doctest: +SKIP
    ...                       resources={"dpone": DponeResource()})
    """
    from dpone_core.api.checks import max_age_seconds

    translator = translator or DponeTranslator()
    loaded = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest, registry_paths)
    seconds = max_age_seconds(max_age)
    definitions = []
    for process in select_processes(loaded, selector):
        key = translator.get_asset_key(process, loaded)
        names = [ROW_COUNT_CHECK] + ([FRESHNESS_CHECK] if seconds is not None else [])
        metadata = {
            MANIFEST_KEY: str(loaded.path),
            PROCESS_KEY: process.name,
            REGISTRY_KEY: [str(p) for p in loaded.registry_paths],
        }
        specs = [
            dg.AssetCheckSpec(
                name,
                asset=key,
                blocking=blocking,
                description=_DESCRIPTIONS[name].format(age=max_age),
                metadata={**metadata, RULE_KEY: _AUDIT_RULES[name], **({MAX_AGE_KEY: seconds} if seconds else {})},
            )
            for name in names
        ]
        definitions.append(_audit_checks(process.name, specs, resource_key))
    return definitions


_DESCRIPTIONS = {
    ROW_COUNT_CHECK: "dpone: the table's rows equal what the committed loads in __dpone__loads account for",
    FRESHNESS_CHECK: "dpone: the newest committed load finished within {age}",
}


def _audit_checks(process: str, specs: list[dg.AssetCheckSpec], resource_key: str) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"dpone_audit_{''.join(c if c.isalnum() else '_' for c in process)}",
        specs=specs,
        can_subset=True,
        required_resource_keys={resource_key},
    )
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        resource: DponeResource = getattr(context.resources, resource_key)
        selected = set(context.selected_asset_check_keys)
        chosen = [s for s in specs if s.key in selected]
        first = chosen[0].metadata
        loaded = resource.load(str(metadata_text(first[MANIFEST_KEY])), metadata_texts(first.get(REGISTRY_KEY)))
        max_age: Any = first.get(MAX_AGE_KEY)
        reports = check_reports(loaded, process, [None], float(max_age) if max_age is not None else None)
        checks = {str(metadata_text(s.metadata[RULE_KEY])): s.name for s in chosen}
        yield from table_check_results(reports, specs[0].asset_key, checks)

    return _checks
