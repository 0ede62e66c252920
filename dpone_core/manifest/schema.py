"""JSON Schema of the manifest, for editors (yaml-language-server) and CI validation."""

from __future__ import annotations

import json
from typing import Any

from dpone_core.connections.registry import connectors
from dpone_core.manifest.models import Manifest


def _profiles_schema(definitions: dict[str, Any]) -> dict[str, Any]:
    """``oneOf`` the profile of every connector installed here, selected by ``type``."""
    choices = []
    for spec in connectors().values():
        schema = spec.profile.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        definitions.update(schema.pop("$defs", {}))
        definitions[spec.profile.__name__] = schema
        choices.append({"$ref": f"#/$defs/{spec.profile.__name__}"})
    return {"oneOf": choices}


def manifest_json_schema() -> str:
    """The manifest's JSON Schema as pretty-printed JSON (connections as the installed connectors' profiles)."""
    schema = Manifest.model_json_schema(by_alias=True)
    definitions = schema.setdefault("$defs", {})
    definitions.pop("ConnectionProfile", None)
    schema["properties"]["connections"]["additionalProperties"] = _profiles_schema(definitions)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dpone manifest"
    return json.dumps(schema, indent=2, sort_keys=True)
