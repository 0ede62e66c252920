"""``run``, ``plan``, ``validate`` and ``processes``: the one execution path and what feeds it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dpone_core.api.publish import RunPublication
from dpone_core.errors import DponeError, ManifestError
from dpone_core.manifest.loader import LoadedManifest, load_manifest, validation_messages
from dpone_core.manifest.process import Process, Retry
from dpone_core.manifest.selectors import select, select_one
from dpone_core.runtime.chunks.phases import chunk_keys_for
from dpone_core.runtime.progress import ProgressCallback
from dpone_core.runtime.report import RunReport, RunResult
from dpone_core.runtime.runner import error_entry, new_id, run_process

ManifestLike = str | Path | LoadedManifest
"""A manifest path, or one already loaded (registry files then are not read again)."""


def load(
    manifest: ManifestLike,
    registry_paths: Iterable[str | Path] = (),
    connections: Mapping[str, Mapping[str, Any]] | None = None,
) -> LoadedManifest:
    """The loaded manifest (``manifest`` itself when it is loaded already).

    ``connections`` adds connection profiles under their names (below the manifest's own), for
    orchestrators that map their connections (``airflow:<conn_id>``) without writing a file.
    """
    return manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest, registry_paths, connections)


def run(
    manifest: ManifestLike,
    selector: str | None = None,
    run_id: str | None = None,
    registry_paths: Sequence[str | Path] = (),
    retry_attempts: int | None = None,
    retry_backoff_seconds: float | None = None,
    *,
    retry_backoff: str | None = None,
    restart: bool = False,
    dry_run: bool = False,
    partition: str | None = None,
    on_event: ProgressCallback | None = None,
    column_name_mode: str | None = None,
    query_params: Mapping[str, str | int | float | bool | None] | None = None,
    phase: str = "load",
    chunks: Sequence[str] | None = None,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    metrics_dir: str | Path | None = None,
    lineage: bool = True,
) -> RunReport:
    """Run one process of a manifest and return its :class:`RunReport` (never raises for expected errors).

    ``retry_attempts`` / ``retry_backoff_seconds`` / ``retry_backoff`` (``exponential``: each wait
    doubles, ``fixed``: every wait is the same) override the manifest's ``retry`` block; only
    transient errors are retried. ``run_id`` makes the run idempotent: a committed ``run_id`` is
    not loaded again unless ``restart`` is True. ``dry_run`` decides gates and DDL but reads and
    writes no rows. ``partition`` loads one partition key of the process's ``partitions``.
    ``column_name_mode`` (as_is, lower, snake) overrides the process's ``source.column_names``.
    ``query_params`` override named parameters of a query source (e.g. an Airflow data interval);
    they are bound as parameters, never pasted into the SQL.

    A chunked load splits a partitioned process across workers: ``phase="extract"`` with a
    ``partition`` parks that partition's rows under ``partitions.chunk_dir`` (the target is not
    touched; status ``extracted``), and one ``phase="finalize"`` run with the same ``run_id`` gates
    and commits every chunk listed in ``chunks`` as one load (default: every value or key-range
    partition of the manifest). A missing chunk fails the finalize before anything is written.

    ``connections`` adds connection profiles by name (see :func:`load`).

    After the run, metrics go to ``metrics_dir`` (``<metrics_dir>/<process>/runtime_metrics.*``) or
    wherever the manifest's ``observability:`` block says; with ``lineage`` (the default) the run
    emits OpenLineage START and COMPLETE/FAIL events when OpenLineage is configured. Neither can
    fail the load: a publishing problem is a warning on the report.

    >>> report = run("dags_examples/quickstart/orders.yaml")  # doctest: +SKIP
    >>> report.passed, report.result.inserted_rows  # doctest: +SKIP
    (True, 4000)
    """
    try:
        loaded = load(manifest, registry_paths, connections)
        process = select_one(loaded.manifest, selector)
        chunk_keys = chunk_keys_for(process, phase, partition, chunks, dry_run)
    except DponeError as exc:
        return RunReport(
            passed=False,
            status="failed",
            attempts=0,
            max_attempts=0,
            manifest_path=str(manifest) if not isinstance(manifest, LoadedManifest) else str(manifest.path),
            result=RunResult(errors=[error_entry(exc, None)]),
        )
    if query_params:
        if process.source.query is None:
            error = ManifestError("query_params apply only to a query source", fix="drop query_params or use query:")
            return RunReport(
                passed=False,
                status="failed",
                process=process.name,
                result=RunResult(errors=[error_entry(error, process.name)]),
            )
        merged = {**process.source.params, **query_params}
        process = process.model_copy(update={"source": process.source.model_copy(update={"params": merged})})
    if column_name_mode is not None:
        try:
            source = process.source.model_copy(update={"column_names": column_name_mode})
            process = process.model_copy(update={"source": type(process.source).model_validate(source.model_dump())})
        except ValueError as exc:
            return RunReport(
                passed=False,
                status="failed",
                process=process.name,
                result=RunResult(
                    errors=[
                        error_entry(
                            ManifestError(f"column_name_mode: {exc}", fix="use as_is, lower or snake"), process.name
                        )
                    ]
                ),
            )
    try:
        retry = _retry(process.retry, retry_attempts, retry_backoff_seconds, retry_backoff)
    except ManifestError as exc:
        return RunReport(
            passed=False,
            status="failed",
            process=process.name,
            result=RunResult(errors=[error_entry(exc, process.name)]),
        )
    run_id = run_id or new_id(f"{process.name}_")
    publication = None
    if not dry_run:
        publication = RunPublication.prepare(loaded, process, metrics_dir=metrics_dir, lineage=lineage)
        publication.started(run_id)
    report = run_process(
        loaded,
        process,
        run_id=run_id,
        retry=retry,
        restart=restart,
        dry_run=dry_run,
        partition=partition,
        on_event=on_event,
        phase=phase,  # type: ignore[arg-type]  # checked by chunk_keys_for
        chunk_keys=chunk_keys,
    )
    return publication.finished(report) if publication is not None else report


def _retry(retry: Retry, attempts: int | None, backoff_seconds: float | None, backoff: str | None) -> Retry:
    """The manifest's retry block with the caller's overrides (invalid ones are a ManifestError)."""
    updates = {
        key: value
        for key, value in (("attempts", attempts), ("backoff_seconds", backoff_seconds), ("backoff", backoff))
        if value is not None
    }
    if not updates:
        return retry
    try:
        return Retry.model_validate({**retry.model_dump(), **updates})
    except ValidationError as exc:
        problems = "; ".join(validation_messages(exc))
        raise ManifestError(
            f"retry options: {problems}", fix="give attempts 0-20, seconds >= 0, fixed or exponential"
        ) from None


def plan(manifest: ManifestLike, selector: str | None = None, registry_paths: Sequence[str | Path] = ()) -> RunReport:
    """What ``run`` would do (source, sink, strategy, gates, DDL) without reading or writing rows."""
    return run(manifest, selector, registry_paths=registry_paths, dry_run=True)


def validate(manifest: str | Path, registry_paths: Sequence[str | Path] = ()) -> LoadedManifest:
    """Load and validate a manifest; raises :class:`dpone_core.errors.ManifestError` with every problem."""
    return load_manifest(manifest, registry_paths)


def processes(
    manifest: ManifestLike, selector: str | None = None, registry_paths: Sequence[str | Path] = ()
) -> list[Process]:
    """The processes a selector picks, upstream first (for orchestrator factories)."""
    return select(load(manifest, registry_paths).manifest, selector)
