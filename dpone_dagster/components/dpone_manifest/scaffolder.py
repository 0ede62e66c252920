"""``dg scaffold defs dpone_dagster.DponeManifestComponent <folder>``: a defs.yaml and a starter manifest."""

from pathlib import Path

import dagster as dg
from pydantic import BaseModel, Field

_STARTER = """\
# A starter dpone manifest: CSV files in ./data loaded into a DuckDB file, merged on id.
# Reference: https://github.com/dpone/dpone/blob/main/docs/manifest.md
version: 1
connections:
  inbox: {type: files, root: data}
  warehouse: {type: duckdb, path: warehouse.duckdb}
processes:
  - name: orders
    source: {connection: inbox, path: "orders*.csv", format: csv}
    sink: {connection: warehouse, table: analytics.orders, strategy: merge, primary_key: [id]}
    schema_contract:
      enforcement: quarantine
      columns:
        id: {type: int64, nullable: false}
"""


class DponeManifestScaffoldParams(BaseModel):
    """What ``dg scaffold defs ... --json-params`` (or ``--manifest``) may set."""

    manifest: str | None = Field(
        None, description="An existing manifest (relative to the new folder); default: a starter one."
    )


class DponeManifestScaffolder(dg.Scaffolder[DponeManifestScaffoldParams]):
    """Writes ``defs.yaml`` pointing at a manifest; without ``manifest``, also a starter ``manifest.yaml``."""

    @classmethod
    def get_scaffold_params(cls) -> type[DponeManifestScaffoldParams]:
        """The parameters ``dg scaffold`` accepts."""
        return DponeManifestScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[DponeManifestScaffoldParams]) -> None:
        """Write the component's files under ``request.target_path``."""
        manifest = request.params.manifest if request.params else None
        if manifest is None:
            manifest = "manifest.yaml"
            target = Path(request.target_path) / manifest
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():  # never overwrite a manifest someone already wrote
                target.write_text(_STARTER, encoding="utf-8")
        dg.scaffold_component(request, {"manifest": manifest})
