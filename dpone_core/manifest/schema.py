"""JSON Schema of the manifest, for editors (yaml-language-server) and CI validation."""

from __future__ import annotations

import json

from dpone_core.manifest.models import Manifest


def manifest_json_schema() -> str:
    """The manifest's JSON Schema as pretty-printed JSON."""
    schema = Manifest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dpone manifest"
    return json.dumps(schema, indent=2, sort_keys=True)
