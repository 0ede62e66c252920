"""Definitions of the example project: everything under ``defs/`` (one dpone component)."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Load every component in the defs folder."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
