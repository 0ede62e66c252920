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
Every component of a project binds the *same* resource instances (Dagster refuses two different
objects under one key when it merges the defs folder); what differs between components (manifest,
registry paths, evidence folder) travels in each asset's definition metadata instead.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from dpone_dagster.asset_decorator import build_dpone_assets
from dpone_dagster.io_manager import DponeIOManager
from dpone_dagster.resource import DponeResource
from dpone_dagster.translator import EVIDENCE_KEY, DponeTranslator

_SHARED: dict[type, Any] = {}


def shared_instance(cls: type) -> Any:
    """The one default-configured instance of a resource class that every component binds.

    >>> shared_instance(DponeResource) is shared_instance(DponeResource)
    True
    """
    return _SHARED.setdefault(cls, cls())


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
        if self.evidence_dir:
            evidence = str(self._path(context, self.evidence_dir))
            assets = [_with_metadata(a, {EVIDENCE_KEY: evidence}) for a in assets]
        resources: dict[str, object] = {self.resource_key: shared_instance(DponeResource)}
        if self.io_manager_key:
            resources[self.io_manager_key] = shared_instance(DponeIOManager)
        return dg.Definitions(assets=assets, resources=resources)


def _with_metadata(asset: dg.AssetsDefinition | dg.AssetSpec, extra: dict[str, str]) -> Any:
    """``asset`` with ``extra`` merged into the metadata of its specs (dpone assets only)."""
    if isinstance(asset, dg.AssetSpec):
        return asset
    return asset.map_asset_specs(lambda spec: spec.merge_attributes(metadata=extra))
