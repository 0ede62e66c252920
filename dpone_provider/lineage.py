"""Lineage for dpone tasks: Airflow Assets (inlets/outlets) and OpenLineage datasets with facets.

Dataset names and facets come from ``dpone_core.lineage`` (one builder for ``dpone run``, Dagster,
catalog publication and this provider), so the Asset a DAG declares at parse time, the OpenLineage
dataset Airflow's listener reports and the event ``dpone run`` emits name the same table with the
same facets. After a run, :func:`operator_lineage` adds what the run learned (schema with physical
types, column lineage, row statistics, contract assertions, the error on failure).

OpenLineage imports are lazy: the ``openlineage`` provider is only needed when lineage is emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dpone_core.lineage import ProcessDatasets, process_datasets
from dpone_core.manifest.process import Process
from dpone_core.model import LineageDataset

__all__ = [
    "ProcessDatasets",
    "asset_event_extra",
    "assets",
    "operator_lineage",
    "outlet_assets",
    "process_datasets",
    "wrote_rows",
]


def assets(datasets: ProcessDatasets) -> tuple[list[Any], list[Any]]:
    """Airflow ``Asset``s (inlets, outlets) for the datasets: one per source and per sink table."""
    from airflow.sdk import Asset

    def asset(ds: LineageDataset) -> Any:
        return Asset(uri=ds.uri, name=ds.uri, extra={"namespace": ds.namespace, "name": ds.name, "system": ds.system})

    return [asset(d) for d in datasets.inputs], [asset(d) for d in datasets.outputs]


def operator_lineage(process: Process | None, datasets: ProcessDatasets, report: Any = None) -> Any:
    """An ``OperatorLineage`` for the process; with a RunReport, facets describing what the run did.

    >>> # operator_lineage(orders, datasets, report).outputs[0].facets["schema"].fields[0].name -> 'id'
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    from dpone_core.lineage.facets import lineage_facets

    facets = lineage_facets(process, datasets, report)
    run_facets = facets.run if report is not None else {}
    return OperatorLineage(inputs=facets.inputs, outputs=facets.outputs, run_facets=run_facets)


def outlet_assets(
    manifest: str, selector: str | None = None, *, registry_paths: Sequence[str] = (), dpone_conn_id: str | None = None
) -> list[Any]:
    """The Assets the selected processes write: schedule a DAG on them to run after each load.

    >>> # with DAG("report", schedule=outlet_assets("orders.yaml", "orders")): ...
    """
    import dpone_core
    from dpone_provider.hooks.dpone import DponeHook

    loaded, placeholders = DponeHook(dpone_conn_id, registry_paths).parse(manifest)
    found: list[Any] = []
    for process in dpone_core.processes(loaded, selector):
        found.extend(assets(process_datasets(loaded, process, placeholders))[1])
    return found


def wrote_rows(report: Any) -> bool:
    """Whether the load changed the target (inserted, updated or deleted a row)."""
    r = report.result
    return bool(r.inserted_rows or r.updated_rows or r.deleted_rows)


def asset_event_extra(report: Any, partition: str | None) -> dict[str, Any]:
    """The outlet Asset event's ``extra``: which load this was and what it did (JSON values, redacted).

    >>> # {"dpone_load_id": "...", "dpone_run_id": "...", "status": "succeeded", "rows": {...}, ...}
    """
    r = report.result
    rows = {
        "extracted": r.extracted_rows,
        "inserted": r.inserted_rows,
        "updated": r.updated_rows,
        "deleted": r.deleted_rows,
        "quarantined": r.quarantined_rows,
    }
    evidence = [p for p in r.evidence_paths if str(p).endswith(".json")] or list(r.evidence_paths)
    extra = {
        "dpone_load_id": report.load_id,
        "dpone_run_id": report.run_id,
        "process": report.process,
        "status": report.status,
        "rows": rows,
        "partition_key": partition,
        "evidence_path": str(evidence[0]) if evidence else None,
    }
    from dpone_provider.hooks.dpone import dumps_safe

    return dict(dumps_safe(extra))
