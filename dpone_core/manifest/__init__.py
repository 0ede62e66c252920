"""Manifest models, loading, selection and rendering.

Import from the submodules (``dpone_core.manifest.loader``, ``.models``, ``.process``); this package
module stays empty so connection profiles can share the strict base model without an import cycle.
"""
