"""DponeResource: runs dpone processes from Dagster assets through ``dpone_core.run``.

The resource adds nothing to a load: the same lifecycle, gates, evidence and state commit run
as under ``dpone run``. What it adds is the mapping to Dagster: dpone run ids derived from the
Dagster run (so a step retry after a commit is a no-op), partition keys passed through, progress
streamed to the Dagster log, and the report turned into events by
:mod:`dpone_dagster.event_iterator`.
"""

import dataclasses
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from dpone_core.api import ProgressEvent, RunReport, target_row_count
from dpone_core.api import processes as select_processes
from dpone_core.api import run as dpone_run
from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_core.manifest.process import RuntimeEvidence
from dpone_core.manifest.selectors import select_one
from dpone_dagster.event_iterator import (
    DponeEvent,
    DponeEventIterator,
    column_lineage,
    partition_metadata,
    report_events,
)
from dpone_dagster.secrets import publish_secrets
from dpone_dagster.translator import (
    EVIDENCE_KEY,
    MANIFEST_KEY,
    PROCESS_KEY,
    REGISTRY_KEY,
    RULE_KEY,
    metadata_text,
    metadata_texts,
)


def dpone_run_id(dagster_run_id: str, partition_key: str | None = None) -> str:
    """The dpone run id of one process in one Dagster run (and partition).

    A Dagster step retry reuses it, so a load that already committed is skipped instead of loaded
    twice; a new Dagster run (re-execution, backfill) gets a new id and loads again.

    >>> dpone_run_id("8d1c...", "2024-01-02")
    'dagster-8d1c...-2024-01-02'
    """
    return f"dagster-{dagster_run_id}" + (f"-{partition_key}" if partition_key else "")


class _ProgressLog:
    """Forwards dpone progress events to a Dagster logger: every phase, rows at most every N seconds."""

    def __init__(self, log: Any, every_seconds: float) -> None:
        self.log = log
        self.every_seconds = every_seconds
        self.phase: tuple[str, str] | None = None
        self.last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if (event.process, event.phase) != self.phase:
            self.phase = (event.process, event.phase)
            self.last = now
            self.log.info(
                f"dpone {event.process}: {event.phase}"
                + (f" ({event.message})" if event.message else "")
                + (f", {event.rows} rows so far" if event.rows else "")
            )
        elif now - self.last >= self.every_seconds:
            self.last = now
            self.log.info(
                f"dpone {event.process}: {event.phase}, {event.rows} rows ({event.rows_per_second:,.0f} rows/s)"
            )


class DponeResource(dg.ConfigurableResource):
    """Runs dpone processes for Dagster assets.

    >>> defs = dg.Definitions(assets=build_dpone_assets("orders.yaml"),  # doctest: +SKIP
    ...                       resources={"dpone": DponeResource(evidence_dir="/var/dpone/evidence")})
    """

    registry_paths: list[str] = Field(
        default_factory=list,
        description="Registry files merged under every manifest (connections, defaults). Empty: the paths "
        "the assets were built with.",
    )
    evidence_dir: str | None = Field(
        None, description="Write evidence for every process here (overrides runtime_evidence.output_dir)."
    )
    core_retries: bool = Field(
        False,
        description="Also retry transient errors inside the step (dpone's own retry). Off by default: the "
        "asset's RetryPolicy, built from the manifest's retry block, owns retries.",
    )
    fetch_row_count: bool = Field(
        True, description="Count the target's rows after each load for dagster/row_count (one count(*))."
    )
    progress_log_seconds: float = Field(
        5.0, ge=0, description="Log row progress at most this often (phase changes are always logged)."
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Values for ${dagster:<name>} references in connection profiles; set them with "
        "dg.EnvVar so Dagster shows the variable's name, not the value.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Publish ``secrets`` for ``${dagster:<name>}`` before any step of the run opens a connection."""
        publish_secrets(self.secrets)

    def load(
        self, manifest: str | Path, registry_paths: Sequence[str] = (), evidence_dir: str | None = None
    ) -> LoadedManifest:
        """Load ``manifest`` with this resource's registry paths and evidence override applied.

        ``evidence_dir`` (from the asset's ``dpone/evidence_dir`` metadata, which a component
        sets) applies when the resource sets none, so one shared resource serves every component.
        """
        publish_secrets(self.secrets)  # also when used outside a Dagster run (a script, a test)
        loaded = load_manifest(manifest, self.registry_paths or list(registry_paths))
        output_dir = self.evidence_dir or evidence_dir
        if not output_dir:
            return loaded
        evidence = RuntimeEvidence(output_dir=str(Path(output_dir).expanduser().resolve()))
        processes = [p.model_copy(update={"runtime_evidence": evidence}) for p in loaded.manifest.processes]
        return dataclasses.replace(loaded, manifest=loaded.manifest.model_copy(update={"processes": processes}))

    def run_process(
        self,
        manifest: str | Path | LoadedManifest,
        process: str,
        *,
        run_id: str | None = None,
        partition: str | None = None,
        restart: bool = False,
        log: Any = None,
        phase: str = "load",
        chunks: Sequence[str] | None = None,
    ) -> RunReport:
        """Run one process and return its report (never raises for expected errors), for ops and sensors.

        ``phase`` ``extract`` parks ``partition``'s rows of a chunked load; ``finalize`` commits the
        parked ``chunks`` of ``run_id`` as one load (see :mod:`dpone_dagster.scale_out`).

        >>> DponeResource().run_process("orders.yaml", "orders").passed  # doctest: +SKIP
        True
        """
        loaded = manifest if isinstance(manifest, LoadedManifest) else self.load(manifest)
        return dpone_run(
            loaded,
            process,
            run_id=run_id,
            partition=partition,
            restart=restart,
            retry_attempts=None if self.core_retries else 0,
            on_event=_ProgressLog(log, self.progress_log_seconds) if log is not None else None,
            phase=phase,
            chunks=chunks,
        )

    def target_row_count(self, loaded: LoadedManifest, process: str, log: Any) -> int | None:
        """Rows in the process's target for ``dagster/row_count`` (None when off or the count failed)."""
        if not self.fetch_row_count:
            return None
        try:
            return target_row_count(loaded, process)
        except Exception as exc:  # noqa: BLE001 - a count is metadata; never fail a committed load over it
            log.warning(f"dpone {process}: could not count target rows for dagster/row_count: {exc}")
            return None

    def run(self, context: dg.AssetExecutionContext, *, restart: bool = False) -> DponeEventIterator:
        """Run every selected process of the asset definition, upstream first, and yield its events.

        Each process gets a :class:`dagster.MaterializeResult` and one
        :class:`dagster.AssetCheckResult` per selected contract rule. The first process whose run
        does not pass ends the step with :class:`dagster.Failure` carrying the report's errors.
        A partitioned run loads each partition key as its own dpone run.
        """
        return DponeEventIterator(self._events(context, restart))

    def _events(self, context: dg.AssetExecutionContext, restart: bool) -> Iterator[DponeEvent]:
        partitioned = context.assets_def.partitions_def is not None
        # A check-only run may target no partition: then the whole table is checked.
        ranged = partitioned and (context.has_partition_key or context.has_partition_key_range)
        keys: list[str | None] = list(context.partition_keys) if ranged else [None]
        selected = set(context.selected_asset_keys)
        for loaded, spec in _selected_specs(self, context):
            if spec.key in selected:
                yield from self._process_events(context, loaded, spec, keys, restart)
            else:  # only its checks were selected: check the table as it is, load nothing
                yield from self._check_events(context, loaded, spec, keys)

    def _check_events(
        self, context: dg.AssetExecutionContext, loaded: LoadedManifest, spec: dg.AssetSpec, keys: list[str | None]
    ) -> Iterator[DponeEvent]:
        """Results of the selected contract checks of ``spec`` from ``dpone_core.check`` (per partition key)."""
        from dpone_dagster.table_checks import check_reports, table_check_results

        process = metadata_text(spec.metadata[PROCESS_KEY]) or ""
        context.log.info(f"dpone {process}: checking the table (checks selected without the asset)")
        reports = check_reports(loaded, process, keys)
        for report in reports:
            context.log.info(report.to_text())
        yield from table_check_results(reports, spec.key, _selected_checks(context, spec.key))

    def _run_keys(
        self,
        context: dg.AssetExecutionContext,
        loaded: LoadedManifest,
        process: str,
        keys: list[str | None],
        restart: bool,
    ) -> list[tuple[str | None, RunReport]]:
        """One dpone run per partition key (one in total unpartitioned), in order, up to the first failure."""
        runs: list[tuple[str | None, RunReport]] = []
        for key in keys:
            context.log.info(f"dpone {process}: starting" + (f" partition {key}" if key else ""))
            report = self.run_process(
                loaded,
                process,
                run_id=dpone_run_id(context.run_id, key),
                partition=key,
                restart=restart,
                log=context.log,
            )
            (context.log.info if report.passed else context.log.error)(report.to_text())
            runs.append((key, report))
            if not report.passed:
                break
        return runs

    def _process_events(
        self,
        context: dg.AssetExecutionContext,
        loaded: LoadedManifest,
        spec: dg.AssetSpec,
        keys: list[str | None],
        restart: bool,
    ) -> Iterator[DponeEvent]:
        """Load one process (each partition key) and yield its materialization and check results."""
        process = metadata_text(spec.metadata[PROCESS_KEY]) or ""
        runs = self._run_keys(context, loaded, process, keys, restart)
        reports = [report for _, report in runs]
        passed = reports[-1].passed
        partition_keys = [key for key in keys if key is not None]
        if passed and partition_keys:
            for key, report in runs:
                context.add_asset_metadata(partition_metadata(report), asset_key=spec.key, partition_key=key)
        definition = select_one(loaded.manifest, process)
        # The translator puts a table source's key first in deps; other sources have none.
        upstream = next((dep.asset_key for dep in spec.deps), None) if definition.source.table else None
        yield from report_events(
            reports,
            asset_key=spec.key,
            checks=_selected_checks(context, spec.key),
            row_count=self.target_row_count(loaded, process, context.log) if passed else None,
            partition_keys=partition_keys,
            lineage=column_lineage(definition, reports[-1], upstream),
        )


def _selected_checks(context: dg.AssetExecutionContext, key: dg.AssetKey) -> dict[str, str]:
    """Rule id -> check name of the selected contract checks of asset ``key``."""
    selected = set(context.selected_asset_check_keys)
    return {
        metadata_text(c.metadata[RULE_KEY]) or "": c.name
        for c in context.assets_def.check_specs
        if c.asset_key == key and c.key in selected and RULE_KEY in c.metadata
    }


def _selected_specs(
    resource: DponeResource, context: dg.AssetExecutionContext
) -> Iterator[tuple[LoadedManifest, dg.AssetSpec]]:
    """(loaded manifest, spec) of every dpone asset selected (or whose checks are), each manifest loaded once,
    upstream first."""
    selected = set(context.selected_asset_keys)
    selected |= {c.asset_key for c in context.selected_asset_check_keys}
    by_manifest: dict[tuple[str, tuple[str, ...], str | None], list[dg.AssetSpec]] = {}
    for spec in context.assets_def.specs:
        if spec.key not in selected:
            continue
        manifest = metadata_text(spec.metadata.get(MANIFEST_KEY))
        if manifest is None:
            raise dg.DagsterInvariantViolationError(
                f"asset {spec.key.to_user_string()} has no {MANIFEST_KEY} metadata; it was not built by dpone_dagster"
            )
        registry = tuple(metadata_texts(spec.metadata.get(REGISTRY_KEY)))
        evidence = metadata_text(spec.metadata.get(EVIDENCE_KEY))
        by_manifest.setdefault((manifest, registry, evidence), []).append(spec)
    for (manifest, registry, evidence), specs in by_manifest.items():
        loaded = resource.load(manifest, registry, evidence)
        order = [p.name for p in select_processes(loaded)]
        specs.sort(key=lambda s: order.index(metadata_text(s.metadata[PROCESS_KEY]) or ""))
        for spec in specs:
            yield loaded, spec
