"""DponeManifestComponent: a ``defs.yaml`` pointing at a dpone manifest yields its assets and checks.

::

    # src/<project>/defs/orders/defs.yaml
    type: dpone_dagster.DponeManifestComponent
    attributes:
      manifest: orders.yaml              # relative to this folder
      selector: "+orders"                # optional: which processes
      evidence_dir: /var/dpone/evidence  # optional
      translation:                       # optional: asset attributes, templated per process
        key_prefix: warehouse
        group_name: "{{ process.orchestration.group or 'dpone' }}"
        automation_condition: "{{ automation_condition.eager() }}"
      op:                                # optional: the step that runs each process
        tags: {team: data}
        pool: warehouse_writes
        backfill_policy: {type: single_run}
      blocking_checks: true              # optional: failed contract checks block downstream

The component provides the ``dpone`` resource (``DponeResource``) and the ``dpone_io_manager``
(``DponeIOManager``, set as the assets' IO manager so downstream assets can read the tables).
Every component of a project binds the *same* resource instances (Dagster refuses two different
objects under one key when it merges the defs folder); what differs between components (manifest,
registry paths, evidence folder) travels in each asset's definition metadata instead.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import dagster as dg

# Dagster's own components (sql, dbt, sling) take ``op`` and ``translation`` from these modules;
# dagster is pinned to 1.13.x, so their shape cannot move under us.
from dagster.components.resolved.core_models import OpSpec
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import Field

from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_dagster.asset_decorator import build_dpone_assets
from dpone_dagster.components.dpone_manifest.scaffolder import DponeManifestScaffolder
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


@dataclass
class ComponentTranslator(DponeTranslator):
    """The default translator with the component's YAML ``translation`` and ``op`` laid over it."""

    translation: TranslationFn[Process] | None = None
    op: OpSpec | None = None

    def get_asset_spec(self, process: Process, manifest: LoadedManifest) -> dg.AssetSpec:
        """The default spec, then ``translation`` (templated with ``process`` and ``spec``)."""
        self._building = True  # the default spec asks get_asset_key: give it the untranslated key
        try:
            spec = super().get_asset_spec(process, manifest)
        finally:
            self._building = False
        return self.translation(spec, process) if self.translation else spec

    def get_asset_key(self, process: Process, manifest: LoadedManifest) -> dg.AssetKey:
        """The translated key, so ``depends_on`` edges follow a renamed asset."""
        if self.translation is None or getattr(self, "_building", False):
            return super().get_asset_key(process, manifest)
        return self.get_asset_spec(process, manifest).key

    def get_op_tags(self, process: Process, manifest: LoadedManifest) -> dict[str, str] | None:
        """``op.tags``."""
        return {k: str(v) for k, v in self.op.tags.items()} if self.op and self.op.tags else None

    def get_pool(self, process: Process, manifest: LoadedManifest) -> str | None:
        """``op.pool``, else the manifest's ``orchestration.concurrency_key``."""
        return self.op.pool if self.op and self.op.pool else super().get_pool(process, manifest)

    def get_backfill_policy(self, process: Process, manifest: LoadedManifest) -> dg.BackfillPolicy | None:
        """``op.backfill_policy``, else the default (single runs for time partitions)."""
        if self.op and self.op.backfill_policy:
            return self.op.backfill_policy
        return super().get_backfill_policy(process, manifest)


@dg.scaffold_with(DponeManifestScaffolder)
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
    translation: Annotated[
        TranslationFn[Process] | None,
        TranslationFnResolver[Process](lambda process: {"process": process}),
    ] = Field(
        None,
        description="Asset attributes per process (key, key_prefix, group_name, owners, tags, kinds, "
        "automation_condition, description, metadata, code_version), templated with {{ process }} and {{ spec }}.",
    )
    op: OpSpec | None = Field(None, description="The step of each process: tags, pool, backfill_policy.")
    blocking_checks: bool = Field(False, description="Failed contract checks block downstream assets in the run.")

    def _path(self, context: dg.ComponentLoadContext, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else context.path / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Load the manifest and build one asset definition per selected process."""
        registry = [self._path(context, p) for p in self.registry_paths]
        assets = build_dpone_assets(
            self._path(context, self.manifest),
            self.selector,
            ComponentTranslator(
                io_manager_key=self.io_manager_key,
                blocking_checks=self.blocking_checks,
                translation=self.translation,
                op=self.op,
            ),
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
