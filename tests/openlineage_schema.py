"""Validate OpenLineage events against the official JSON Schema (tests/fixtures/openlineage/).

The event is checked against ``OpenLineage.json``'s RunEvent; then every facet in it (run, job,
dataset, input and output facets) against the schema its ``_schemaURL`` names, resolved by the
``$id`` of the vendored facet files. A facet that names an ``openlineage.io`` schema this folder
lacks fails (vendor the file); a custom facet (dpone's own) is held to the base facet of the
RunEvent schema only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

FIXTURES = Path(__file__).parent / "fixtures" / "openlineage"
OFFICIAL = "https://openlineage.io/spec/"


@cache
def _registry() -> tuple[Registry, str]:
    """Every vendored schema under its ``$id``, and the RunEvent schema's URI."""
    resources = []
    for path in [FIXTURES / "OpenLineage.json", *sorted((FIXTURES / "facets").glob("*.json"))]:
        document = json.loads(path.read_text(encoding="utf-8"))
        resources.append((document["$id"], Resource.from_contents(document)))
    registry: Registry = Registry().with_resources(resources)
    return registry, resources[0][0]


def _check(instance: Any, uri: str, where: str) -> None:
    registry, _ = _registry()
    base = uri.partition("#")[0]
    if base not in registry:
        raise AssertionError(f"{where}: no vendored schema {base}; copy it into {FIXTURES}")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": uri}
    validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path)
        raise AssertionError(f"{where}{'/' + path if path else ''}: {first.message} (schema {uri})")


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, facet) of every facet of the event."""
    found = [(f"run.facets.{k}", v) for k, v in (event.get("run", {}).get("facets") or {}).items()]
    found += [(f"job.facets.{k}", v) for k, v in (event.get("job", {}).get("facets") or {}).items()]
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for index, dataset in enumerate(event.get(side) or []):
            for group in ("facets", extra):
                found += [(f"{side}[{index}].{group}.{k}", v) for k, v in (dataset.get(group) or {}).items()]
    return found


def validate_event(event: dict[str, Any]) -> None:
    """Raise AssertionError naming the first place ``event`` breaks the OpenLineage spec."""
    _, run_event = _registry()
    _check(event, f"{run_event}#/$defs/RunEvent", "event")
    for where, facet in _facets(event):
        url = str(facet.get("_schemaURL", ""))
        if url.startswith(OFFICIAL):
            _check(facet, url, where)
        elif not url:
            raise AssertionError(f"{where}: the facet has no _schemaURL")
