"""DponeHook: Airflow Connections -> dpone profiles in memory, and secrets resolved through the airflow scheme."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpone_provider.hooks.dpone import (
    ConnectionFields,
    DponeHook,
    UnsupportedConnection,
    airflow_connection_ids,
    profile_from_connection,
)

SECRET = "hunter2-very-secret"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            ConnectionFields("shop", "postgres", "db.internal", 5433, "shop", "bob", SECRET, {"sslmode": "require"}),
            {
                "type": "postgres",
                "host": "db.internal",
                "port": 5433,
                "database": "shop",
                "user": "bob",
                "password": "${airflow:shop/password}",
                "sslmode": "require",
            },
        ),
        (
            ConnectionFields("erp", "mssql", "sql1", None, "erp", "sa", SECRET, {"encrypt": "false"}),
            {
                "type": "mssql",
                "host": "sql1",
                "port": 1433,
                "database": "erp",
                "user": "sa",
                "password": "${airflow:erp/password}",
                "encrypt": False,
            },
        ),
        (
            ConnectionFields("ch", "clickhouse", "ch1", 8443, "dw", "loader", SECRET, {"secure": True}),
            {
                "type": "clickhouse",
                "host": "ch1",
                "port": 8443,
                "database": "dw",
                "user": "loader",
                "password": "${airflow:ch/password}",
                "secure": True,
            },
        ),
        (
            ConnectionFields(
                "lake",
                "aws",
                None,
                None,
                None,
                "AKIA1",
                SECRET,
                {"bucket": "lake", "prefix": "raw", "region_name": "eu-west-1"},
            ),
            {
                "type": "s3",
                "bucket": "lake",
                "prefix": "raw",
                "region": "eu-west-1",
                "access_key_id": "AKIA1",
                "secret_access_key": "${airflow:lake/secret_access_key}",
            },
        ),
        (
            ConnectionFields(
                "events",
                "kafka",
                extra={
                    "bootstrap.servers": "k1:9092,k2:9092",
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanism": "PLAIN",
                    "sasl.username": "u",
                    "sasl.password": SECRET,
                },
            ),
            {
                "type": "kafka",
                "bootstrap_servers": "k1:9092,k2:9092",
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
                "sasl_password": "${airflow:events/sasl_password}",
            },
        ),
        (ConnectionFields("wh", "duckdb", "/data/wh.duckdb"), {"type": "duckdb", "path": "/data/wh.duckdb"}),
        (ConnectionFields("inbox", "fs", extra={"path": "/data/inbox"}), {"type": "files", "root": "/data/inbox"}),
    ],
)
def test_profile_from_connection(fields: ConnectionFields, expected: dict[str, Any]) -> None:
    mapped = profile_from_connection(fields)
    assert mapped.profile == expected
    assert SECRET not in str(mapped.profile)
    assert all(value == SECRET for value in mapped.secrets.values())


def test_mapped_profiles_validate_as_dpone_profiles() -> None:
    from dpone_core.connections.registry import parse_profile

    for fields in (
        ConnectionFields("a", "postgres", "h", None, "d", "u", SECRET),
        ConnectionFields("b", "aws", login="k", password=SECRET, extra={"bucket": "lake-x"}),
        ConnectionFields("c", "kafka", extra={"bootstrap.servers": "k:9092"}),
    ):
        parse_profile(profile_from_connection(fields).profile)


def test_unsupported_connections_say_what_is_supported() -> None:
    with pytest.raises(UnsupportedConnection, match=r"supported: .*postgres"):
        profile_from_connection(ConnectionFields("x", "http", "example.com"))
    with pytest.raises(UnsupportedConnection, match="bucket"):
        profile_from_connection(ConnectionFields("x", "aws"))


def _manifest(tmp_path: Path, source: str, sink: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.csv").write_text("id\n1\n2\n", encoding="utf-8")
    path = tmp_path / "m.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "connections": {
                    "inbox": {"type": "files", "root": "data"},
                    "wh": {"type": "duckdb", "path": "wh.duckdb"},
                },
                "processes": [
                    {
                        "name": "p",
                        "source": {"connection": source, "path": "*.csv", "format": "csv"},
                        "sink": {"connection": sink, "table": "main.p", "strategy": "append"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_airflow_connection_ids(tmp_path: Path) -> None:
    assert airflow_connection_ids(_manifest(tmp_path, "airflow:in", "airflow:out")) == ["in", "out"]
    assert airflow_connection_ids(_manifest(tmp_path, "inbox", "wh")) == []


def test_prepared_maps_connections_in_memory_with_secrets_as_references(
    tmp_path: Path, airflow_connection: Any
) -> None:
    airflow_connection(
        "dpone_pg", conn_type="postgres", host="127.0.0.1", port=1, schema="shop", login="bob", password=SECRET,
        extra={"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem"},
    )  # fmt: skip
    manifest = _manifest(tmp_path, "inbox", "airflow:dpone_pg")
    before = dict(os.environ)
    with DponeHook().prepared(manifest) as prepared:
        profile = prepared.connections["airflow:dpone_pg"]
        assert SECRET not in str(profile) and profile["password"] == "${airflow:dpone_pg/password}"
        assert (profile["sslmode"], profile["sslrootcert"]) == ("verify-full", "/etc/ssl/ca.pem")  # extras kept
        assert prepared.registry_paths == ()  # no temporary registry file
        loaded = prepared.load()
        assert loaded.manifest.connections["airflow:dpone_pg"].type == "postgres"
    assert dict(os.environ) == before  # no secret ever in the environment


def test_the_airflow_scheme_resolves_a_connections_secret_when_the_run_opens_it(airflow_connection: Any) -> None:
    from dpone_core.connections.references import UnresolvedReference, resolve_references

    airflow_connection("dpone_pg", conn_type="postgres", host="h", schema="d", login="bob", password=SECRET)
    assert resolve_references("${airflow:dpone_pg/password}") == SECRET
    with pytest.raises(UnresolvedReference, match="has no sasl_password"):
        resolve_references("${airflow:dpone_pg/sasl_password}")
    with pytest.raises(UnresolvedReference, match="cannot be read"):
        resolve_references("${airflow:dpone_nosuch/password}")


def test_parse_time_placeholders_for_missing_connections(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, "airflow:dpone_missing_in", "airflow:dpone_missing_out")
    loaded, placeholders = DponeHook().parse(manifest)
    assert placeholders == {"airflow:dpone_missing_in", "airflow:dpone_missing_out"}
    assert loaded.manifest.connections["airflow:dpone_missing_in"].type == "files"
    assert loaded.manifest.connections["airflow:dpone_missing_out"].type == "duckdb"


def test_run_with_airflow_connections_end_to_end(tmp_path: Path, airflow_connection: Any) -> None:
    airflow_connection("dpone_in", conn_type="fs", extra={"path": str(tmp_path / "data")})
    airflow_connection("dpone_out", conn_type="duckdb", host=str(tmp_path / "out.duckdb"))
    report = DponeHook().run(_manifest(tmp_path, "airflow:dpone_in", "airflow:dpone_out"), run_id="r1")
    assert report.passed, report.to_text()
    assert report.result.inserted_rows == 2
    loads = DponeHook().committed_loads(_manifest(tmp_path, "airflow:dpone_in", "airflow:dpone_out"), "p")
    assert [row["run_id"] for row in loads] == ["r1"]


def test_a_failed_run_never_shows_the_password(tmp_path: Path, airflow_connection: Any) -> None:
    # Port 1 on localhost refuses at once; whatever the connector says, the secret must not appear.
    airflow_connection(
        "dpone_pg", conn_type="postgres", host="127.0.0.1", port=1, schema="shop", login="bob", password=SECRET
    )
    report = DponeHook().run(_manifest(tmp_path, "inbox", "airflow:dpone_pg"), run_id="r1")
    assert not report.passed
    assert SECRET not in report.to_json() and SECRET not in report.to_text() and SECRET not in str(report.summary())


def test_dpone_connection_resolves_manifest_dir_and_registries(tmp_path: Path, airflow_connection: Any) -> None:
    manifest = _manifest(tmp_path, "inbox", "wh")
    (tmp_path / "registry.yaml").write_text("version: 1\nconnections: {}\n", encoding="utf-8")
    airflow_connection(
        "dpone_cfg", conn_type="dpone", extra={"manifest_dir": str(tmp_path), "registry_paths": "registry.yaml"}
    )
    hook = DponeHook("dpone_cfg")
    assert hook.manifest_path("m.yaml") == manifest.resolve()
    assert hook.registry_paths() == (str(tmp_path / "registry.yaml"),)
    assert hook.test_connection() == (True, "dpone connection OK")
    assert hook.run("m.yaml", run_id="via-conn").passed


def test_a_connection_type_dpone_cannot_use_parses_and_fails_the_task(tmp_path: Path, airflow_connection: Any) -> None:
    """A ``generic`` Connection (what Airflow shows without the Postgres provider) must not break the DAG."""
    from airflow.sdk.exceptions import AirflowFailException

    from dpone_provider.operators.run import DponeRunOperator
    from tests.airflow.test_operator import _context

    airflow_connection("legacy_wh", conn_type="generic", host="db", login="u", password=SECRET)
    manifest = _manifest(tmp_path, "inbox", "airflow:legacy_wh")
    loaded, placeholders = DponeHook().parse(manifest)  # raised UnsupportedConnection before
    assert placeholders == {"airflow:legacy_wh"} and loaded.manifest.processes[0].name == "p"
    report = DponeHook().run(manifest)
    assert not report.passed and report.exit_code == 2
    line = report.result.errors[0].line
    assert "'legacy_wh' has type 'generic'" in line and "Fix: give Airflow connection legacy_wh a type" in line
    assert SECRET not in line and "\n" not in line
    with pytest.raises(AirflowFailException, match="has type 'generic'"):
        DponeRunOperator(task_id="p", manifest=str(manifest)).execute(_context())


def test_a_uri_form_duckdb_connection_writes_to_its_absolute_path(tmp_path: Path, monkeypatch: Any) -> None:
    """``duckdb:///abs/w.duckdb``: Airflow keeps the path in ``schema`` without its slash (it was made relative)."""
    target = tmp_path / "abs" / "w.duckdb"
    target.parent.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_URI_WH", f"duckdb://{target}")
    manifest = _manifest(tmp_path, "inbox", "airflow:uri_wh")
    monkeypatch.chdir(tmp_path / "data")  # a relative path would land here
    report = DponeHook().run(manifest)
    assert report.passed, report.to_text()
    assert target.exists() and not (tmp_path / "data" / str(target).lstrip("/")).exists()
