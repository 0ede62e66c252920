"""Manifest models, loading, selection and rendering."""

from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_core.manifest.models import Defaults, Manifest, Registry
from dpone_core.manifest.process import Process, Sink, Source

__all__ = ["Defaults", "LoadedManifest", "Manifest", "Process", "Registry", "Sink", "Source", "load_manifest"]
