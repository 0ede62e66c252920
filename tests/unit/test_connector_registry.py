"""Connectors are found by connection type through their specs; profiles validate through them."""

from __future__ import annotations

import json

import pytest

from dpone_core.connections.registry import UnknownConnectionType, connector, connectors, parse_profile
from dpone_core.manifest.schema import manifest_json_schema


def test_every_built_in_connector_exports_a_spec_for_its_name() -> None:
    specs = connectors()
    assert {"files", "duckdb", "postgres", "mssql", "clickhouse", "s3", "kafka"} <= set(specs)
    for name, spec in specs.items():
        assert spec.name == name and spec.profile.model_fields["type"].annotation is not str
        assert (spec.open_source is not None) == spec.capabilities.source
        assert (spec.open_sink is not None) == spec.capabilities.sink


def test_an_unknown_type_suggests_the_closest_one() -> None:
    with pytest.raises(UnknownConnectionType, match="did you mean 'postgres'"):
        connector("postgress")


def test_profiles_validate_through_their_connector_and_keep_secrets_typed() -> None:
    profile = parse_profile({"type": "postgres", "database": "d", "password": "${env:PW}"})
    assert type(profile).__name__ == "PostgresProfile" and profile.secret_fields() == {"password"}
    with pytest.raises(ValueError, match="secrets must be references"):
        parse_profile({"type": "postgres", "database": "d", "password": "hunter2"})


def test_the_json_schema_offers_every_connectors_profile() -> None:
    schema = json.loads(manifest_json_schema())
    choices = schema["properties"]["connections"]["additionalProperties"]["oneOf"]
    assert {c["$ref"].rsplit("/", 1)[1] for c in choices} >= {"FilesProfile", "DuckDBProfile", "PostgresProfile"}
