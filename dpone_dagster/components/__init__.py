"""Dagster components shipped by dpone (registered through the ``dagster_dg_cli.registry_modules`` entry point)."""

from dpone_dagster.components.dpone_manifest.component import DponeManifestComponent

__all__ = ["DponeManifestComponent"]
