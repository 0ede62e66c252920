"""``dpone ops catalog-publish``: catalog handoff payloads for one registered run.

Written into the output folder:

* ``openlineage_catalog_event.json``: the run's final OpenLineage event (COMPLETE for a run that
  passed, FAIL otherwise, ABORT when interrupted) from :mod:`dpone_core.lineage.events`, with the
  ``runId`` the runtime and ``dpone ops lineage-export`` use;
* ``dbt_sources.yml``: dbt sources for the target table(s) (:mod:`.dbt_sources`);
* ``datahub_mcp.json``: DataHub metadata change proposals (:mod:`.datahub_mcp`);
* ``catalog_publication.json`` / ``.md``: this report, with every file's sha256.

The run is read as :func:`~dpone_core.ops.lineage_export.load_run` reads it. Red (exit 1, files
still written) when the run did not pass or an artifact the entry registered changed since.
Every file is redacted; payloads are built from reports and manifests, whose secrets are references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_json, write_text
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report
from dpone_core.ops.catalog_model import CatalogTable, catalog_tables
from dpone_core.ops.datahub_mcp import datahub_proposals, dataset_urn
from dpone_core.ops.dbt_sources import Freshness, dbt_sources, loaded_at_query, to_yaml
from dpone_core.ops.lineage_export import PublishedRun, RunSelection, event_document, final_event, load_run, run_summary
from dpone_core.ops.run_registry import verify_entry
from dpone_core.redaction import redact

KIND = "catalog_publication"
STEP = "catalog-publish"
EVENT_FILE = "openlineage_catalog_event.json"
DBT_FILE = "dbt_sources.yml"
DATAHUB_FILE = "datahub_mcp.json"


@dataclass(frozen=True)
class CatalogOptions:
    """What the payloads are generated with."""

    freshness: Freshness = field(default_factory=Freshness)


def _file(path: Path) -> dict[str, str]:
    return {"name": path.name, "path": str(path), "sha256": sha256_file(path)}


def _run_facts(run: PublishedRun) -> dict[str, str | None]:
    """The ids DataHub's custom properties carry (``dpone_`` is prefixed)."""
    from dpone_core.lineage.events import openlineage_run_id

    report = run.report
    return {
        "run_id": run.run_id,
        "openlineage_run_id": openlineage_run_id(run.run_id),
        "load_id": report.load_id,
        "status": report.status,
        "manifest_sha256": report.manifest_sha256,
        "finished_at": report.finished_at,
    }


def _write_payloads(
    run: PublishedRun, tables: list[CatalogTable], output_dir: Path, options: CatalogOptions
) -> tuple[list[Path], str]:
    """The three handoff files (redacted) and the event's type."""
    output_dir.mkdir(parents=True, exist_ok=True)
    event = output_dir / EVENT_FILE
    document = event_document(final_event(run))
    write_json(event, document)
    dbt = output_dir / DBT_FILE
    write_text(dbt, redact(to_yaml(dbt_sources(tables, options.freshness))))
    proposals = datahub_proposals(
        tables,
        run.datasets.inputs,
        copied=not run.datasets.query_source,
        run_facts=_run_facts(run),
        finished_at=run.report.finished_at,
    )
    datahub = output_dir / DATAHUB_FILE
    write_json(datahub, _redacted(proposals))
    return [event, dbt, datahub], str(document["eventType"])


def _redacted(document: Any) -> Any:
    return json.loads(redact(json.dumps(document, default=str)))


def _table_summary(table: CatalogTable) -> dict[str, Any]:
    return {
        "process": table.process,
        "dbt_source": table.source_name,
        "schema": table.schema,
        "table": table.table,
        "datahub_urn": dataset_urn(table.dataset),
        "columns": len(table.columns),
        "dbt_tests": sum(c.not_null + c.unique + bool(c.allowed) for c in table.columns),
        "freshness": loaded_at_query(table) is not None,
    }


def _blockers(run: PublishedRun) -> list[str]:
    blockers = []
    if not run.report.passed:
        why = f": {run.report.result.errors[0].line}" if run.report.result.errors else ""
        blockers.append(f"run.red: run {run.run_id} ended {run.report.status}{why}")
    blockers += verify_entry(run.entry_path).blockers
    return blockers


def catalog_publish(
    selection: RunSelection, output_dir: Path, options: CatalogOptions | None = None
) -> tuple[OpsReport, WrittenReport]:
    """Write the catalog payloads of the registered run and ``catalog_publication.json``/``.md``."""
    chosen = options or CatalogOptions()
    run = load_run(selection, STEP)
    tables = catalog_tables(run)
    written, event_type = _write_payloads(run, tables, output_dir, chosen)
    payload = {
        "run": run_summary(run),
        "event_type": event_type,
        "tables": [_table_summary(t) for t in tables],
        "datahub_aspects": ["datasetProperties", "schemaMetadata"]
        + (["upstreamLineage"] if run.datasets.inputs else []),
        "files": [_file(p) for p in written],
    }
    report = OpsReport(KIND, payload, _blockers(run))
    return report, write_report(report, output_dir, KIND, to_markdown(report))


def to_markdown(report: OpsReport) -> str:
    """The publication's Markdown twin."""
    run = report.payload["run"]
    lines = [
        f"# Catalog publication: {run['run_id']} ({run['status']}), {'GREEN' if report.passed else 'RED'}",
        "",
        f"- job `{run['job']['namespace']}/{run['job']['name']}`, OpenLineage runId `{run['openlineage_run_id']}`,"
        f" event {report.payload['event_type']}",
        f"- facts from the {run['report_source'].replace('_', ' ')}; DataHub aspects: "
        + ", ".join(report.payload["datahub_aspects"]),
        "",
        *markdown_table(
            ("dbt source", "table", "columns", "dbt tests", "freshness", "DataHub urn"),
            [
                (
                    t["dbt_source"],
                    f"{t['schema']}.{t['table']}",
                    t["columns"],
                    t["dbt_tests"],
                    t["freshness"],
                    t["datahub_urn"],
                )
                for t in report.payload["tables"]
            ],
        ),
        "",
        *markdown_table(("file", "sha256"), [(f["name"], f["sha256"]) for f in report.payload["files"]]),
    ]
    lines += ["", "## Blockers", "", *[f"- {b}" for b in report.blockers]] if report.blockers else []
    return "\n".join(lines) + "\n"
