"""The ``${scheme:name}`` references a deployment must provide: found in the selected processes and their connections.

Only names are collected, nothing is resolved: deploy-render turns ``${env:...}`` names into
variables taken from a platform secret and ``${file:...}`` names into files mounted from one, and
refuses references only another platform resolves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.orchestration.handoff import EnvVar

REFERENCE = re.compile(r"\$\{([a-z][a-z0-9_]*):([^}]+)\}")
NATIVE_SCHEMES = {"airflow": "airflow", "dagster": "dagster"}
"""Reference schemes only one platform resolves."""


@dataclass(frozen=True)
class FoundReference:
    """A ``${scheme:name}`` reference of a selected process; ``secret`` when a secret field holds it."""

    scheme: str
    name: str
    secret: bool
    process: str
    where: str


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _strings(value, f"{where}[{index}]")


def find_references(loaded: LoadedManifest, selected: list[Process]) -> Iterator[FoundReference]:
    """Every reference the selected processes and their connections hold (as names; nothing resolved)."""
    for process in selected:
        for where, text in _strings(process.model_dump(), f"processes.{process.name}"):
            for scheme, name in REFERENCE.findall(text):
                yield FoundReference(scheme, name.strip(), False, process.name, where)
        for connection in dict.fromkeys((process.source.connection, process.sink.connection)):
            profile = loaded.manifest.connections[connection]
            secrets = type(profile).secret_fields()
            for key, value in profile.model_dump().items():
                for where, text in _strings(value, f"connections.{connection}.{key}"):
                    for scheme, name in REFERENCE.findall(text):
                        yield FoundReference(scheme, name.strip(), key in secrets, process.name, where)


def env_vars(refs: tuple[FoundReference, ...] | list[FoundReference]) -> tuple[EnvVar, ...]:
    """One :class:`EnvVar` per ``${env:...}`` name, secret when any use of it is a secret field."""
    names: dict[str, bool] = {}
    for ref in refs:
        if ref.scheme == "env":
            names[ref.name] = names.get(ref.name, False) or ref.secret
    return tuple(EnvVar(name, secret) for name, secret in sorted(names.items()))


def unresolvable(refs: tuple[FoundReference, ...], target: str) -> list[str]:
    """References of a scheme only another platform resolves (``${airflow:...}`` under Kubernetes, ...)."""
    foreign = {(r.scheme, r.where) for r in refs if r.scheme in NATIVE_SCHEMES and NATIVE_SCHEMES[r.scheme] != target}
    return [
        f"{where} is a ${{{scheme}:...}} reference, which only {scheme} resolves" for scheme, where in sorted(foreign)
    ]


def file_names(refs: tuple[FoundReference, ...]) -> list[str]:
    """The ``${file:...}`` names, sorted."""
    return sorted({r.name for r in refs if r.scheme == "file"})


def environment(refs: tuple[FoundReference, ...]) -> list[dict[str, Any]]:
    """The variables for the report: name, secret, the processes using it."""
    return [
        {"name": v.name, "secret": v.secret, "used_by": sorted({r.process for r in refs if r.name == v.name})}
        for v in env_vars(refs)
    ]
