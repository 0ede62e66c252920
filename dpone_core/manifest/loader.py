"""Read manifest and registry YAML, merge defaults, validate, and turn pydantic errors into one-liners."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dpone_core.errors import ManifestError
from dpone_core.manifest.models import Defaults, Manifest, Registry


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest with where it came from and the hash evidence refers to."""

    manifest: Manifest
    path: Path
    registry_paths: tuple[Path, ...]
    sha256: str

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the manifest resolve against."""
        return self.path.parent


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain name, not a list or mapping", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> tuple[dict[str, Any], bytes]:
    """Parse a YAML mapping from ``path``; every problem is a :class:`ManifestError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"file not found: {path}", fix="check the path") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}", fix="check permissions") from None
    try:
        data = yaml.load(raw, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise ManifestError(f"{path}: the YAML is nested too deeply", fix="flatten the document") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise ManifestError(f"{path}: invalid YAML value: {exc}", fix="fix the value") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ManifestError(
            f"{path}: invalid YAML at {where}: {exc.problem or exc.context}", fix="fix the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: invalid YAML: {exc}", fix="fix the YAML syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: the top level must be a mapping, not {type(data).__name__}")
    return data, raw


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``; nested mappings merge, everything else is replaced.

    >>> deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}})
    {'a': {'x': 1, 'y': 3}}
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def format_location(loc: Sequence[str | int], data: dict[str, Any] | None = None) -> str:
    """Render a pydantic location as ``processes[2] (orders).sink.options``.

    Union tags that pydantic inserts (``function-after[...]``, connection type names under
    ``connections.<name>``) are dropped so the path matches what the user wrote.
    """
    parts: list[str] = []
    node: Any = data
    for index, item in enumerate(loc):
        if isinstance(item, str) and ("[" in item or item.startswith("function-")):
            continue
        tag_position = index >= 2 and loc[index - 2] == "connections" and isinstance(item, str)
        if tag_position and not (isinstance(node, dict) and item in node):
            continue  # the discriminator tag pydantic adds after connections.<name>
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
                if parts and parts[-1] == "processes" and isinstance(name, str):
                    label += f" ({name})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + item)
        if isinstance(node, dict):
            node = node.get(item) if isinstance(item, str) else None
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item] if item < len(node) else None
        else:
            node = None
    return "".join(parts)


def validation_messages(error: ValidationError, data: dict[str, Any] | None = None) -> list[str]:
    """Turn a pydantic ValidationError into one readable line per problem."""
    lines = []
    for item in error.errors(include_url=False):
        where = format_location(item["loc"], data) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "literal_error":
            message = f"{message} (got {item.get('input')!r})"
        lines.append(f"{where}: {message}")
    return lines


def _validate(model: type[BaseModel], data: dict[str, Any], source: Path, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {prefix}{line}" for line in validation_messages(exc, data)]
        raise ManifestError(
            lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""),
            fix="correct the manifest; `dpone manifest validate` lists every problem",
        ).with_details(lines) from None


def load_manifest(
    path: str | Path,
    registry_paths: Iterable[str | Path] = (),
    connections: Mapping[str, Mapping[str, Any]] | None = None,
) -> LoadedManifest:
    """Load, merge and validate a manifest (and its registry files).

    Precedence: registry files (later ones win) < ``connections`` given here (profiles an
    orchestrator maps from its own connections, such as ``airflow:<conn_id>``) < manifest
    ``defaults``/``connections`` < process.

    >>> load_manifest("dags_examples/quickstart/orders.yaml").manifest.processes[0].name  # doctest: +SKIP
    'orders'
    """
    try:
        return _load_manifest(Path(path), registry_paths, connections or {})
    except RecursionError:
        raise ManifestError(f"{path}: the manifest is nested too deeply", fix="flatten the document") from None


def _mapping(data: dict[str, Any], key: str, source: Path) -> dict[str, Any]:
    """``data[key]`` when it is a mapping or absent (empty); anything else is a ManifestError."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(
            f"{source}: {key}: must be a mapping, not {type(value).__name__}",
            fix=f"write {key} as 'name: value' lines (or remove it)",
        )
    return value


def _load_manifest(
    path: Path, registry_paths: Iterable[str | Path], given: Mapping[str, Mapping[str, Any]]
) -> LoadedManifest:
    manifest_path = path.resolve()
    data, raw = read_yaml(manifest_path)
    digest = hashlib.sha256(raw)
    merged_connections: dict[str, Any] = {}
    merged_defaults: dict[str, Any] = {}
    registries = tuple(Path(p).resolve() for p in registry_paths)
    for registry_path in registries:
        registry_data, registry_raw = read_yaml(registry_path)
        _validate(Registry, registry_data, registry_path)
        digest.update(registry_raw)
        merged_connections.update(_mapping(registry_data, "connections", registry_path))
        merged_defaults = deep_merge(merged_defaults, _mapping(registry_data, "defaults", registry_path))

    if given:
        # Part of what the run used: in the digest (profiles hold references, never secret values).
        digest.update(json.dumps(given, sort_keys=True, default=str).encode())
        merged_connections.update({name: dict(profile) for name, profile in given.items()})
    own_defaults = _mapping(data, "defaults", manifest_path)
    if own_defaults:
        _validate(Defaults, own_defaults, manifest_path, prefix="defaults.")
    defaults = deep_merge(merged_defaults, own_defaults)
    document = dict(data)
    document["defaults"] = defaults
    connections = data.get("connections")
    if connections is None or isinstance(connections, dict):
        document["connections"] = {**merged_connections, **(connections or {})}
    processes = data.get("processes")
    if isinstance(processes, list):
        document["processes"] = [deep_merge(defaults, item) if isinstance(item, dict) else item for item in processes]
    manifest = _validate(Manifest, document, manifest_path)
    return LoadedManifest(manifest, manifest_path, registries, digest.hexdigest())
