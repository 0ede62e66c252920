"""OpenLineage facets of one process run: the one builder every entry point uses.

* output: ``schema`` (the target's columns with their physical types, e.g. ``numeric(18,2)``),
  ``columnLineage`` (a table source's column feeds the target column of the same name, an identity
  transformation; a query source's columns are not claimed, since a query may rename or compute),
  ``outputStatistics`` (rows written = inserted + updated);
* input: ``inputStatistics`` (rows extracted) and ``dataQualityAssertions`` (one per contract rule;
  ``success`` is False when the rule quarantined or failed rows);
* run: ``errorMessage`` on failure, ``processing_engine`` (dpone and its version) and ``dpone``
  (run id, load id, strategy, status, attempts, manifest sha256) so a catalog can join the event to
  the run registry and the audit row.

Needs the ``lineage`` extra (``openlineage-python``); callers import this module lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    RunFacet,
    error_message_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.facet_v2 import column_lineage_dataset as cl
from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq
from openlineage.client.facet_v2 import input_statistics_input_dataset as ins
from openlineage.client.facet_v2 import output_statistics_output_dataset as outs

from dpone_core.lineage.datasets import ProcessDatasets, identity_columns
from dpone_core.manifest.process import Process
from dpone_core.model import LineageDataset
from dpone_core.redaction import redact
from dpone_core.runtime.report import RunReport

PRODUCER = "https://github.com/dpone/dpone"
DPONE_FACET_SCHEMA = "https://github.com/dpone/dpone/blob/main/docs/lineage.md#the-dpone-run-facet"
_PASSING = {"passed", "applied", "skipped"}


@attr.define
class DponeRunFacet(RunFacet):
    """dpone's own run facet: the ids that join an event to the run registry and the audit row."""

    run_id: str | None = attr.field(default=None)
    load_id: str | None = attr.field(default=None)
    process: str | None = attr.field(default=None)
    strategy: str | None = attr.field(default=None)
    status: str | None = attr.field(default=None)
    attempts: int | None = attr.field(default=None)
    manifest_sha256: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return DPONE_FACET_SCHEMA


@dataclass(frozen=True)
class LineageFacets:
    """Input and output datasets with their facets, and the run facets, for one run (or its start)."""

    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    run: dict[str, RunFacet] = field(default_factory=dict)


def dpone_version() -> str:
    """The installed dpone version (``0+unknown`` from a source tree without metadata)."""
    try:
        return version("dpone")
    except PackageNotFoundError:
        return "0+unknown"


def schema_facet(target_schema: list[dict[str, object]]) -> schema_dataset.SchemaDatasetFacet:
    """The target's columns; ``physical_type`` (the database's own type) where the sink names it."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=str(column["name"]),
                type=str(column.get("physical_type") or column.get("type")),
                ordinal_position=index + 1,
            )
            for index, column in enumerate(target_schema)
        ]
    )


def column_lineage_facet(
    process: Process, target_columns: list[str], source: LineageDataset
) -> cl.ColumnLineageDatasetFacet:
    """Identity lineage from a table source's columns to the target's columns of the same name."""
    transformation = cl.Transformation(
        type="DIRECT", subtype="IDENTITY", description="loaded as is after the contract gates"
    )
    fields = {
        column: cl.Fields(
            inputFields=[
                cl.InputField(
                    namespace=source.namespace, name=source.name, field=column, transformations=[transformation]
                )
            ]
        )
        for column in identity_columns(process, target_columns)
    }
    return cl.ColumnLineageDatasetFacet(fields=fields)


def assertions_facet(report: RunReport) -> dq.DataQualityAssertionsDatasetFacet:
    """One assertion per contract verdict of the run."""
    assertions = []
    for gate in report.result.gates:
        if gate.gate != "contract":
            continue
        severity = {"failed": "error", "quarantined": "warn"}.get(gate.verdict)
        assertions.append(
            dq.Assertion(
                assertion=gate.rule,
                success=gate.verdict in _PASSING,
                column=gate.rule.split(".")[0] if "." in gate.rule else None,
                severity=severity,
                description=gate.detail or None,
                actual=str(gate.failed_rows),
            )
        )
    return dq.DataQualityAssertionsDatasetFacet(assertions=assertions)


def run_facets(report: RunReport | None, run_id: str | None = None) -> dict[str, RunFacet]:
    """``processing_engine`` and ``dpone`` always; ``errorMessage`` when the run did not pass."""
    facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=dpone_version(), name="dpone", openlineageAdapterVersion=dpone_version()
        )
    }
    if report is None:
        facets["dpone"] = DponeRunFacet(run_id=run_id)
        return facets
    facets["dpone"] = DponeRunFacet(
        run_id=report.run_id or run_id,
        load_id=report.load_id,
        process=report.process,
        strategy=report.strategy,
        status=report.status,
        attempts=report.attempts,
        manifest_sha256=report.manifest_sha256,
    )
    if not report.passed and report.status not in ("skipped", "planned", "extracted"):
        lines = [e.line for e in report.result.errors] or [f"run {report.status}"]
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=redact("; ".join(lines)), programmingLanguage="python"
        )
    return facets


def _input_facets(report: RunReport | None, succeeded: bool) -> dict[str, InputDatasetFacet]:
    facets: dict[str, InputDatasetFacet] = {}
    if report is not None and report.result.gates:
        facets["dataQualityAssertions"] = assertions_facet(report)
    if report is not None and succeeded:
        facets["inputStatistics"] = ins.InputStatisticsInputDatasetFacet(rowCount=report.result.extracted_rows)
    return facets


def lineage_facets(
    process: Process | None, datasets: ProcessDatasets, report: RunReport | None = None, run_id: str | None = None
) -> LineageFacets:
    """Datasets and facets for a run; without a report (a START event), names only.

    >>> # lineage_facets(orders, datasets, report).outputs[0].facets["schema"].fields[0].type -> 'BIGINT'
    """
    succeeded = report is not None and report.status == "succeeded"
    inputs = [
        InputDataset(namespace=ds.namespace, name=ds.name, inputFacets=_input_facets(report, succeeded))
        for ds in datasets.inputs
    ]
    outputs = []
    for ds in datasets.outputs:
        facets: dict[str, DatasetFacet] = {}
        output_facets: dict[str, OutputDatasetFacet] = {}
        if report is not None and report.result.target_schema:
            facets["schema"] = schema_facet(report.result.target_schema)
            if process is not None and len(datasets.inputs) == 1 and not datasets.query_source:
                names = [str(c["name"]) for c in report.result.target_schema]
                facets["columnLineage"] = column_lineage_facet(process, names, datasets.inputs[0])
        if report is not None and succeeded:
            written = report.result.inserted_rows + report.result.updated_rows
            output_facets["outputStatistics"] = outs.OutputStatisticsOutputDatasetFacet(rowCount=written)
        outputs.append(OutputDataset(namespace=ds.namespace, name=ds.name, facets=facets, outputFacets=output_facets))
    return LineageFacets(inputs, outputs, run_facets(report, run_id))
