"""``${env:NAME}`` / ``${file:path}`` outside connection profiles: which keys take them, and resolving them.

Paths (where evidence, quarantine files and chunks go, which files a source reads) and query
parameter values may differ between machines, so they may be references; they are resolved when a
run uses them, like connection profiles. Anywhere else (table and column names, strategies,
contracts, SQL text) a reference is refused when the manifest is validated: SQL or a name built
from the environment is how loads go wrong silently, and text that looks like a reference but
stays literal (a folder named ``${env:OUT}``) is what no one wants.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dpone_core.connections.references import UnresolvedReference, contains_reference, resolve_references
from dpone_core.errors import ConfigurationError

REFERABLE_KEYS = ("source.path", "runtime_evidence.output_dir", "quarantine.dir", "partitions.chunk_dir")
"""Keys of a process whose value may contain references (plus every value under ``source.params``)."""


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")


def misplaced_references(process: dict[str, Any]) -> list[str]:
    """Dotted keys of ``process`` (a dumped Process) holding a reference where none is resolved."""
    return [
        key
        for key, value in _strings(process, "")
        if contains_reference(value) and key not in REFERABLE_KEYS and not key.startswith("source.params.")
    ]


def resolve_setting(value: str, key: str, base_dir: Path | None, *, secret: bool = False) -> str:
    """``value`` with its references resolved; a missing one fails naming ``key``.

    ``secret``: the resolved text may carry credentials (a URL with ``user:pass@``), so it is
    registered for redaction like a connection password.
    """
    if not contains_reference(value):
        return value
    try:
        return resolve_references(value, base_dir=base_dir, secret=secret)
    except UnresolvedReference as exc:
        raise ConfigurationError(
            f"{key}: {exc}", step="connect", fix="export the variable or create the file before the run"
        ) from None


def resolve_params(params: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Query parameters with references in their string values resolved."""
    return {
        name: resolve_setting(value, f"source.params.{name}", base_dir) if isinstance(value, str) else value
        for name, value in params.items()
    }
