"""The ``DponeManifestComponent``: a ``defs.yaml`` that points at a dpone manifest."""
