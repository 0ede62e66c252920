"""Lineage for dpone tasks: Airflow Assets (inlets/outlets) and OpenLineage datasets with facets.

Dataset names come from ``dpone_core.connectors.lineage`` (computed from the manifest, no
connection needed), so the Asset a DAG declares at parse time and the OpenLineage dataset a run
reports are the same table. After a run, :func:`operator_lineage` adds what the run learned:

* output: ``schema`` (the target's columns and types), ``columnLineage`` (each loaded column comes
  from the source column of the same name, an identity transformation), ``outputStatistics``
  (rows written = inserted + updated);
* input: ``inputStatistics`` (rows extracted) and ``dataQualityAssertions`` (one assertion per
  contract rule; ``success`` is False when the rule quarantined or failed rows).

OpenLineage imports are lazy: the ``openlineage`` provider is only needed when lineage is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dpone_core.api import LineageDataset, sink_dataset, source_dataset
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process

_PASSING = {"passed", "applied", "skipped"}


@dataclass(frozen=True)
class ProcessDatasets:
    """The datasets one process reads and writes (empty when a connection could not be resolved)."""

    inputs: tuple[LineageDataset, ...]
    outputs: tuple[LineageDataset, ...]


def process_datasets(loaded: LoadedManifest, process: Process, placeholders: Iterable[str] = ()) -> ProcessDatasets:
    """Datasets of a process; a side whose connection is a parse-time placeholder is left out.

    >>> # process_datasets(loaded, orders).outputs[0].uri -> 'duckdb:///…/warehouse.duckdb/analytics/orders'
    """
    skip = set(placeholders)
    inputs = () if process.source.connection in skip else (source_dataset(loaded, process),)
    outputs = () if process.sink.connection in skip else (sink_dataset(loaded, process),)
    return ProcessDatasets(inputs, outputs)


def assets(datasets: ProcessDatasets) -> tuple[list[Any], list[Any]]:
    """Airflow ``Asset``s (inlets, outlets) for the datasets: one per source and per sink table."""
    from airflow.sdk import Asset

    def asset(ds: LineageDataset) -> Any:
        return Asset(uri=ds.uri, name=ds.uri, extra={"namespace": ds.namespace, "name": ds.name, "system": ds.system})

    return [asset(d) for d in datasets.inputs], [asset(d) for d in datasets.outputs]


def _schema_facet(target_schema: list[dict[str, Any]]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=str(c["name"]), type=str(c.get("type")), ordinal_position=i + 1
            )
            for i, c in enumerate(target_schema)
        ]
    )


def _column_lineage(process: Process, target_columns: list[str], source: LineageDataset) -> Any:
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    added = set()
    if process.sink.scd2 is not None or process.sink.strategy == "scd2":
        scd2 = process.sink.scd2
        added = {scd2.valid_from, scd2.valid_to, scd2.is_current} if scd2 else {"valid_from", "valid_to", "is_current"}
    selected = set(process.source.columns) if process.source.columns else None
    fields = {}
    for column in target_columns:
        if column in added or column.startswith("__dpone") or (selected is not None and column not in selected):
            continue
        fields[column] = cl.Fields(
            inputFields=[
                cl.InputField(
                    namespace=source.namespace,
                    name=source.name,
                    field=column,
                    transformations=[
                        cl.Transformation(
                            type="DIRECT", subtype="IDENTITY", description="loaded as is after the contract gates"
                        )
                    ],
                )
            ]
        )
    return cl.ColumnLineageDatasetFacet(fields=fields)


def _assertions(report: Any) -> Any:
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    assertions = []
    for gate in report.result.gates:
        if gate.gate != "contract":
            continue
        column = gate.rule.split(".")[0] if "." in gate.rule else None
        assertions.append(
            dq.Assertion(
                assertion=gate.rule,
                success=gate.verdict in _PASSING,
                column=column,
                severity="error" if gate.verdict == "failed" else ("warn" if gate.verdict == "quarantined" else None),
                description=gate.detail or None,
                actual=str(gate.failed_rows),
            )
        )
    return dq.DataQualityAssertionsDatasetFacet(assertions=assertions)


def operator_lineage(process: Process | None, datasets: ProcessDatasets, report: Any = None) -> Any:
    """An ``OperatorLineage`` for the process; with a RunReport, facets describing what the run did.

    >>> # operator_lineage(orders, datasets, report).outputs[0].facets["schema"].fields[0].name -> 'id'
    """
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset as ins
    from openlineage.client.facet_v2 import output_statistics_output_dataset as outs

    inputs: list[Any] = []
    outputs: list[Any] = []
    ran = report is not None and report.status == "succeeded"
    for ds in datasets.inputs:
        input_facets: dict[str, Any] = {}
        if report is not None and report.result.gates:
            input_facets["dataQualityAssertions"] = _assertions(report)
        if ran:
            rows = report.result.extracted_rows
            input_facets["inputStatistics"] = ins.InputStatisticsInputDatasetFacet(rowCount=rows)
        inputs.append(InputDataset(namespace=ds.namespace, name=ds.name, inputFacets=input_facets))
    for ds in datasets.outputs:
        facets: dict[str, Any] = {}
        output_facets: dict[str, Any] = {}
        if report is not None and report.result.target_schema:
            facets["schema"] = _schema_facet(report.result.target_schema)
            if process is not None and datasets.inputs:
                names = [str(c["name"]) for c in report.result.target_schema]
                facets["columnLineage"] = _column_lineage(process, names, datasets.inputs[0])
        if ran:
            written = report.result.inserted_rows + report.result.updated_rows
            output_facets["outputStatistics"] = outs.OutputStatisticsOutputDatasetFacet(rowCount=written)
        outputs.append(OutputDataset(namespace=ds.namespace, name=ds.name, outputFacets=output_facets, facets=facets))
    return OperatorLineage(inputs=inputs, outputs=outputs)


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
