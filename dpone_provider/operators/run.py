"""DponeRunOperator: run one manifest process with ``dpone_core.run`` as an Airflow task.

The operator is thin: it resolves the manifest through :class:`~dpone_provider.hooks.dpone.DponeHook`
(Airflow Connections become dpone profiles), calls ``dpone_core.run`` once, logs progress, and

* returns the report's compact summary (counts, status, evidence paths, state after) as XCom;
* fails the task with the report's one-line errors when the run did not pass. Errors dpone knows
  cannot succeed on retry (contract, schema, manifest, terminal) raise ``AirflowFailException`` so
  Airflow does not retry them; transient ones raise ``AirflowException`` and use Airflow's retries.

Airflow owns retries: dpone's own retry loop is off (``in_process_retries=0``) and the manifest's
``retry`` block fills ``retries`` / ``retry_delay`` / ``retry_exponential_backoff`` /
``max_retry_delay`` unless the task or the DAG's ``default_args`` set them. The manifest's
``orchestration.concurrency_key`` becomes the task's ``pool`` and ``orchestration.owners`` its
``owner``, under the same rule. A task whose sink takes one writer at a time (a DuckDB file) gets
``max_active_tis_per_dag=1``, so overlapping DAG runs (a backfill) queue instead of failing with
DPONE_ALREADY_RUNNING.

The outlet Asset events carry the load (:func:`asset_event_extra`); with
``emit_empty_asset_events=False`` a load that wrote no row emits none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from dpone_provider.hooks.dpone import DponeHook, dumps_safe
from dpone_provider.lineage import (
    ProcessDatasets,
    asset_event_extra,
    assets,
    operator_lineage,
    process_datasets,
    wrote_rows,
)
from dpone_provider.operators.task_arguments import chunk_keys, manifest_task_kwargs

if TYPE_CHECKING:
    from airflow.sdk import Context

    from dpone_core.manifest.loader import LoadedManifest
    from dpone_core.manifest.process import Process

RESTART_CONF_KEY = "dpone_restart"
"""``dag_run.conf`` key that re-runs a load whose run_id already committed (``{"dpone_restart": true}``)."""

_PROGRESS_LOG_SECONDS = 10.0


def _templated(*values: Any) -> bool:
    return any(isinstance(v, str) and ("{{" in v or "{%" in v) for v in values)


class DponeRunOperator(BaseOperator):
    """Run one dpone process (``dpone_core.run``) and push its report summary to XCom.

    :param manifest: Path of the manifest YAML (templated). A relative path resolves against the
        ``dpone`` connection's ``manifest_dir``, else the working directory.
    :param selector: Process name or selector picking exactly one process (templated); optional for
        a one-process manifest.
    :param run_id: dpone run id (templated). Default: ``airflow__<dag>__<task>__<dag run id>`` plus the
        partition or map index, so a retry or re-run of the same DAG run is idempotent (a run id that
        already committed is skipped unless ``dag_run.conf`` has ``dpone_restart: true``).
    :param registry_paths: Extra registry files (templated).
    :param dpone_conn_id: Optional ``dpone`` Airflow connection (manifest folder, registry files).
    :param partition: Partition key of the process's ``partitions`` to load (templated, mappable).
    :param restart: Load again even when ``run_id`` already committed.
    :param plan_only: Decide gates and DDL without reading or writing rows (dpone's dry run; the name
        ``dry_run`` is taken by ``BaseOperator.dry_run()``).
    :param in_process_retries: dpone's own retries for transient errors inside one try (default 0:
        Airflow retries the task).
    :param use_manifest_defaults: Fill retries, pool, owner, inlets and outlets from the manifest.
    :param use_pool: Map ``orchestration.concurrency_key`` to the task's pool (create the pool with
        ``airflow pools set <key> <slots> ...``).
    :param parsed_manifest: ``DponeHook.parse(manifest)``'s result when the caller already has it
        (the factories pass it so a DAG with many processes reads its manifest once).
    :param phase: ``load`` (default: the whole load in this task), or one half of a chunked load:
        ``extract`` parks ``partition``'s rows under the process's ``partitions.chunk_dir`` without
        touching the target, ``finalize`` gates and commits every parked chunk of the run as one
        load. Both halves share one run id (the default one leaves out task id and partition).
    :param chunks: ``finalize`` only: the partition keys whose chunks to commit (templated; an
        XComArg of the keys the extract tasks mapped over). Default: every value or key range.
    :param query_params: Named parameters of a query source, overriding the manifest's
        ``source.params`` (templated, e.g. ``{"since": "{{ data_interval_start }}"}``); bound as
        parameters, never pasted into the SQL.
    :param emit_empty_asset_events: Emit the outlet Asset events also for a load that wrote no
        row (default). With False, such a load (nothing new, or a run id already committed)
        emits none, so DAGs scheduled on the Asset do not run for nothing.

    >>> DponeRunOperator(task_id="orders", manifest="/opt/airflow/dags/orders.yaml")  # doctest: +SKIP
    """

    template_fields: Sequence[str] = (
        "manifest",
        "selector",
        "run_id",
        "registry_paths",
        "partition",
        "query_params",
        "chunks",
    )
    template_fields_renderers = {"manifest": "yaml"}
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        manifest: str,
        selector: str | None = None,
        run_id: str | None = None,
        registry_paths: Sequence[str] = (),
        dpone_conn_id: str | None = None,
        partition: str | None = None,
        restart: bool = False,
        plan_only: bool = False,
        in_process_retries: int = 0,
        use_manifest_defaults: bool = True,
        use_pool: bool = True,
        parsed_manifest: tuple[LoadedManifest, frozenset[str]] | None = None,
        query_params: Mapping[str, Any] | None = None,
        phase: str = "load",
        chunks: Any = None,
        emit_empty_asset_events: bool = True,
        **kwargs: Any,
    ) -> None:
        if not manifest:
            raise ValueError("DponeRunOperator needs manifest: the path of a dpone manifest")
        if in_process_retries < 0:
            raise ValueError("in_process_retries cannot be negative")
        if phase not in {"load", "extract", "finalize"}:
            raise ValueError(f"phase must be load, extract or finalize, not {phase!r}")
        self._datasets: ProcessDatasets | None = None
        self._process: Process | None = None
        self._parse_error: str | None = None
        if use_manifest_defaults and not _templated(manifest, selector, *registry_paths):
            kwargs = self._with_manifest_defaults(
                kwargs,
                manifest,
                selector,
                tuple(registry_paths),
                dpone_conn_id,
                use_pool,
                parsed_manifest,
                extract_only=phase == "extract",
            )
        super().__init__(**kwargs)
        self.manifest = str(manifest)
        self.selector = selector
        self.run_id = run_id
        # Kept as given: an XComArg (or a Jinja string) is only a mapping after rendering.
        self.query_params = query_params if query_params is not None else {}
        self.registry_paths = list(registry_paths)
        self.dpone_conn_id = dpone_conn_id
        self.partition = partition
        self.phase = phase
        self.chunks = chunks
        self.restart = restart
        self.plan_only = plan_only
        self.in_process_retries = in_process_retries
        self.emit_empty_asset_events = emit_empty_asset_events
        self.report: Any = None

    def _with_manifest_defaults(
        self,
        kwargs: dict[str, Any],
        manifest: str,
        selector: str | None,
        registry_paths: tuple[str, ...],
        dpone_conn_id: str | None,
        use_pool: bool,
        parsed: tuple[LoadedManifest, frozenset[str]] | None,
        extract_only: bool = False,
    ) -> dict[str, Any]:
        """Read the manifest at parse time; a manifest that cannot be read leaves kwargs unchanged.

        ``extract_only`` (the extract half of a chunked load) declares no outlets: it writes no target.
        """
        from dpone_core.manifest.selectors import select_one

        try:
            loaded, placeholders = parsed or DponeHook(dpone_conn_id, registry_paths).parse(manifest)
            process = select_one(loaded.manifest, selector)
        except Exception as exc:  # noqa: BLE001 - the run reports the problem with its full message
            self._parse_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return kwargs
        self._process = process
        self._datasets = process_datasets(loaded, process, placeholders)
        given = set(kwargs) | set(kwargs.get("default_args") or {})
        derived = manifest_task_kwargs(
            process, use_pool=use_pool, loaded=None if extract_only else loaded, placeholders=placeholders
        )
        merged = {k: v for k, v in derived.items() if k not in given}
        inlets, outlets = assets(self._datasets)
        if "inlets" not in given and inlets:
            merged["inlets"] = inlets
        if "outlets" not in given and outlets and not extract_only:
            merged["outlets"] = outlets
        return {**kwargs, **merged}

    def hook(self) -> DponeHook:
        """The hook this operator runs through."""
        return DponeHook(self.dpone_conn_id, self.registry_paths)

    def default_run_id(self, context: Context) -> str:
        """``airflow__<dag_id>__<task_id>__<dag run id>[__<partition> | __<map index>]``.

        The two halves of a chunked load share ``airflow__<dag_id>__chunks_<process>__<dag run id>``:
        the finalize commits what the extract tasks of the same DAG run parked.
        """
        ti = context["ti"]
        dag_run = context["dag_run"]
        if self.phase != "load":
            return "__".join(["airflow", ti.dag_id, f"chunks_{self.selector or 'process'}", dag_run.run_id])
        parts = ["airflow", ti.dag_id, ti.task_id, dag_run.run_id]
        if self.partition:
            parts.append(str(self.partition))
        elif getattr(ti, "map_index", -1) not in (None, -1):
            parts.append(str(ti.map_index))
        return "__".join(parts)

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the process; return the compact report (XCom ``return_value``) or fail the task."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        if self.partition is None and self.phase == "load":
            self.partition = self._dag_run_partition(context)
        run_id = self.run_id or self.default_run_id(context)
        conf: Mapping[str, Any] = getattr(context.get("dag_run"), "conf", None) or {}
        restart = self.restart or bool(conf.get(RESTART_CONF_KEY))
        chunks = chunk_keys(self.chunks)
        self.log.info(
            "dpone run %s selector=%s run_id=%s phase=%s partition=%s chunks=%s restart=%s",
            self.manifest,
            self.selector,
            run_id,
            self.phase,
            self.partition,
            chunks,
            restart,
        )
        report = self.hook().run(
            self.manifest,
            self.selector,
            run_id,
            retry_attempts=self.in_process_retries,
            restart=restart,
            dry_run=self.plan_only,
            partition=self.partition,
            on_event=self._progress_logger(),
            query_params=dict(self.query_params) if self.query_params else None,
            phase=self.phase,
            chunks=chunks,
        )
        self.report = report
        for line in report.to_text().splitlines():
            self.log.info("%s", line)
        summary = dumps_safe(
            {**report.summary(), "target": report.result.target, "partition": self.partition, "phase": self.phase}
        )
        if report.passed:
            self._record_asset_events(context, report)
            if report.status == "skipped":
                self.log.info(
                    "run_id %s already committed; nothing loaded (set dag_run.conf %s=true to load again)",
                    run_id,
                    RESTART_CONF_KEY,
                )
            return summary
        context["ti"].xcom_push(key="dpone_report", value=summary)
        message = "; ".join(e.line for e in report.result.errors) or f"dpone run {report.status}"
        if report.retry_may_help:  # the core's one classifier: transient errors and interrupts only
            raise AirflowException(message)
        raise AirflowFailException(message)

    def _dag_run_partition(self, context: Context) -> str | None:
        """The DAG run's partition key (Airflow 3.2+ partitioned runs) when it names one of the process's keys."""
        key = getattr(context.get("dag_run"), "partition_key", None)
        process = self._process
        if not key or process is None or process.partitions is None:
            return None
        from dpone_core.api import partition_keys

        try:
            known = key in partition_keys(process.partitions)
        except Exception:  # noqa: BLE001 - a key dpone cannot list is not one of the process's
            return None
        if known:
            self.log.info("loading partition %s: the DAG run's partition key", key)
        return str(key) if known else None

    def _record_asset_events(self, context: Context, report: Any) -> None:
        """Put the load into each outlet Asset event's extra, or drop the events of an empty load."""
        from airflow.sdk import Asset

        if not self.emit_empty_asset_events and not wrote_rows(report):
            # Airflow emits one event per Asset in ``task.outlets`` when the task succeeds, read
            # after execute() returns: without them in the list, this try emits none.
            self.log.info("no row written: no Asset event (emit_empty_asset_events=False)")
            self.outlets = [o for o in self.outlets if not isinstance(o, Asset)]
            return
        events = context.get("outlet_events")
        if events is None:
            return
        extra = asset_event_extra(report, self.partition)
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                events[outlet].extra.update(extra)

    def _progress_logger(self) -> Any:
        last: dict[str, Any] = {"phase": None, "at": 0.0}

        def on_event(event: Any) -> None:
            now = time.monotonic()
            if event.phase != last["phase"] or now - last["at"] >= _PROGRESS_LOG_SECONDS:
                last["phase"], last["at"] = event.phase, now
                self.log.info(
                    "dpone %s: %s rows=%s (%.0f rows/s) %s",
                    event.process,
                    event.phase,
                    event.rows,
                    event.rows_per_second,
                    event.message,
                )

        return on_event

    # OpenLineage: picked up by the openlineage provider's DefaultExtractor by name.

    def _lineage_datasets(self) -> tuple[Process | None, ProcessDatasets]:
        process, datasets = self._declared_datasets()
        # An extract task reads the source and parks chunks; only the finalize task writes the target.
        return process, ProcessDatasets(datasets.inputs, ()) if self.phase == "extract" else datasets

    def _declared_datasets(self) -> tuple[Process | None, ProcessDatasets]:
        if self._datasets is not None:
            return self._process, self._datasets
        from dpone_core.manifest.selectors import select_one

        try:
            with self.hook().prepared(self.manifest, missing_ok=True) as prepared:
                loaded = prepared.load()
                process = select_one(loaded.manifest, self.selector)
                return process, process_datasets(loaded, process, prepared.placeholders)
        except Exception:  # noqa: BLE001 - lineage must never fail the task
            return None, ProcessDatasets((), ())

    def get_openlineage_facets_on_start(self) -> Any:
        """Input and output datasets of the process (names only)."""
        process, datasets = self._lineage_datasets()
        return operator_lineage(process, datasets)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Datasets with schema, column lineage, row counts and contract assertions from the run's report."""
        process, datasets = self._lineage_datasets()
        return operator_lineage(process, datasets, self.report)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Datasets with the contract assertions of the failed run (no output statistics)."""
        return self.get_openlineage_facets_on_complete(task_instance)
