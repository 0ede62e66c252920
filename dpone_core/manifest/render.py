"""Render the effective (merged) manifest for people: references stay references, secrets are masked."""

from __future__ import annotations

from typing import Any

import yaml

from dpone_core.connections.references import is_reference
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.selectors import select
from dpone_core.redaction import MASK, redact


def _mask(node: Any, secrets: frozenset[str], key: str | None = None) -> Any:
    if isinstance(node, dict):
        return {k: _mask(v, secrets, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v, secrets) for v in node]
    if isinstance(node, str):
        if key in secrets and not is_reference(node):
            return MASK
        return redact(node)
    return node


def render_manifest(loaded: LoadedManifest, selector: str | None = None, include_defaults: bool = False) -> str:
    """YAML of the merged manifest; ``include_defaults`` adds every default value (``--all``)."""
    chosen = {p.name for p in select(loaded.manifest, selector)}
    data = loaded.manifest.model_dump(
        mode="json", by_alias=True, exclude_defaults=not include_defaults, exclude_none=not include_defaults
    )
    data["processes"] = [p for p in data.get("processes", []) if p.get("name") in chosen]
    data.setdefault("version", 1)
    secrets = frozenset(name for p in loaded.manifest.connections.values() for name in p.secret_fields())
    return yaml.safe_dump(_mask(data, secrets), sort_keys=False, allow_unicode=True)
