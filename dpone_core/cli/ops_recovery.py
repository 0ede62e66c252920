"""``dpone ops`` commands of one area (registered on the ``ops`` group when imported)."""

from __future__ import annotations

from dpone_core.cli.ops import ops

__all__ = ["ops"]
