"""DponeManifestComponent: a ``defs.yaml`` pointing at a dpone manifest yields its assets and checks.

::

    # src/<project>/defs/orders/defs.yaml
    type: dpone_dagster.DponeManifestComponent
    attributes:
      manifest: orders.yaml              # relative to this folder
      selector: "+orders"                # optional: which processes
      evidence_dir: /var/dpone/evidence  # optional

The component provides the ``dpone`` resource (``DponeResource``) and the ``dpone_io_manager``
(``DponeIOManager``, set as the assets' IO manager so downstream assets can read the tables).
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from pydantic import Field

from dpone_dagster.asset_decorator import build_dpone_assets
from dpone_dagster.io_manager import DponeIOManager
from dpone_dagster.resource import DponeResource
from dpone_dagster.translator import DponeTranslator


class DponeManifestComponent(dg.Component, dg.Model, dg.Resolvable):
    """Assets, contract checks and partitions for every process of a dpone manifest."""

    manifest: str = Field(description="Path of the manifest, relative to the folder of this defs.yaml.")
    selector: str | None = Field(None, description="dpone selector (name, tag:x, +name); all processes if unset.")
    registry_paths: Sequence[str] = Field((), description="Registry files, relative to the folder of this defs.yaml.")
    evidence_dir: str | None = Field(None, description="Write evidence of every process here.")
    include_sources: bool = Field(True, description="Add external assets for source tables no process loads.")
    resource_key: str = Field("dpone", description="Resource key of the DponeResource.")
    io_manager_key: str | None = Field(
        "dpone_io_manager", description="IO manager key set on the assets (null: keep the default)."
    )

    def _path(self, context: dg.ComponentLoadContext, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else context.path / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Load the manifest and build one asset definition per selected process."""
        registry = [self._path(context, p) for p in self.registry_paths]
        assets = build_dpone_assets(
            self._path(context, self.manifest),
            self.selector,
            DponeTranslator(io_manager_key=self.io_manager_key),
            registry_paths=registry,
            include_sources=self.include_sources,
            resource_key=self.resource_key,
        )
        resources: dict[str, object] = {
            # Dagster's resource metaclass hides the pydantic defaults of the other fields from mypy.
            self.resource_key: DponeResource(  # type: ignore[call-arg]
                registry_paths=[str(p) for p in registry], evidence_dir=self.evidence_dir
            ),
        }
        if self.io_manager_key:
            resources[self.io_manager_key] = DponeIOManager(registry_paths=[str(p) for p in registry])
        return dg.Definitions(assets=assets, resources=resources)
