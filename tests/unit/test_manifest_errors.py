"""Every manifest error path produces a one-line message naming the place and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dpone_core.errors import ManifestError
from dpone_core.manifest.loader import load_manifest

BASE = """
version: 1
connections:
  inbox: {type: files, root: data}
  warehouse: {type: duckdb, path: w.duckdb}
processes:
  - name: orders
    source: {connection: inbox, path: "*.csv", format: csv}
    sink: {connection: warehouse, table: raw.orders, strategy: append}
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(write(tmp_path, text))
    assert "\n" not in str(info.value)
    return info.value.details or [str(info.value)]


def one(tmp_path: Path, text: str) -> str:
    return " | ".join(problems(tmp_path, text))


def test_valid_base_manifest_loads(tmp_path: Path) -> None:
    loaded = load_manifest(write(tmp_path, BASE))
    assert [p.name for p in loaded.manifest.processes] == ["orders"]
    assert len(loaded.sha256) == 64


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    text = BASE.replace("strategy: append}", "strategy: append, optoins: {}}")
    assert "processes[0] (orders).sink: unknown key 'optoins'; did you mean 'options'?" in one(tmp_path, text)


def test_unknown_key_without_close_match_lists_keys(tmp_path: Path) -> None:
    text = BASE.replace("strategy: append}", "strategy: append, zzz: 1}")
    message = one(tmp_path, text)
    assert "unknown key 'zzz'; expected one of:" in message and "primary_key" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert "unknown key 'proceses'; did you mean 'processes'?" in one(tmp_path, BASE + "proceses: []\n")


def test_unknown_schema_evolution_key_is_an_error(tmp_path: Path) -> None:
    text = BASE + "    schema_evolution: {new_column: add}\n"
    assert "schema_evolution: unknown key 'new_column'; did you mean 'new_columns'?" in one(tmp_path, text)


def test_missing_required_key(tmp_path: Path) -> None:
    text = BASE.replace("    sink: {connection: warehouse, table: raw.orders, strategy: append}\n", "")
    assert "processes[0] (orders).sink: required key is missing" in one(tmp_path, text)


def test_wrong_type(tmp_path: Path) -> None:
    text = BASE.replace("{type: duckdb, path: w.duckdb}", "{type: duckdb, path: w.duckdb, threads: many}")
    assert "connections.warehouse.threads" in one(tmp_path, text)


def test_unknown_connection_type(tmp_path: Path) -> None:
    text = BASE.replace("{type: duckdb, path: w.duckdb}", "{type: oracle, path: w.duckdb}")
    message = one(tmp_path, text)
    assert "connections.warehouse" in message and "oracle" in message


def test_literal_password_is_refused(tmp_path: Path) -> None:
    text = BASE + "  \n"
    text = text.replace(
        "  warehouse: {type: duckdb, path: w.duckdb}",
        "  warehouse: {type: duckdb, path: w.duckdb}\n  pg: {type: postgres, database: d, password: hunter2}",
    )
    message = one(tmp_path, text)
    assert "connections.pg.password: secrets must be references" in message
    assert "hunter2" not in message


def test_undefined_connection_suggests(tmp_path: Path) -> None:
    text = BASE.replace("connection: inbox,", "connection: inbx,")
    assert "source.connection: 'inbx' is not defined; did you mean 'inbox'?" in one(tmp_path, text)


def test_unknown_dependency(tmp_path: Path) -> None:
    text = BASE + "    depends_on: [ordres]\n"
    assert "depends_on: unknown process 'ordres'" in one(tmp_path, text)


def test_dependency_cycle(tmp_path: Path) -> None:
    text = BASE + (
        "    depends_on: [b]\n"
        "  - name: b\n"
        "    depends_on: [orders]\n"
        '    source: {connection: inbox, path: "*.csv", format: csv}\n'
        "    sink: {connection: warehouse, table: raw.b}\n"
    )
    assert "depends_on has a cycle: " in one(tmp_path, text)


def test_duplicate_process_names(tmp_path: Path) -> None:
    text = BASE + BASE.split("processes:\n")[1]
    assert "process name 'orders' is used twice" in one(tmp_path, text)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = BASE.replace("version: 1", "version: 1\nversion: 1")
    assert "duplicate key 'version'" in one(tmp_path, text)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert "invalid YAML at line" in one(tmp_path, "version: 1\nprocesses: [\n")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    assert "top level must be a mapping" in one(tmp_path, "- a\n- b\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        ("{connection: warehouse, table: t, strategy: merge}", "strategy merge needs primary_key"),
        ("{connection: warehouse, table: t, strategy: scd2}", "strategy scd2 needs primary_key"),
        (
            "{connection: warehouse, table: t, strategy: append, delete_marker: {column: d}}",
            "delete_marker applies only to merge and scd2",
        ),
        (
            "{connection: warehouse, table: t, strategy: merge, primary_key: [id, id]}",
            "primary_key lists a column twice",
        ),
        ("{connection: warehouse, table: t, strategy: upsert}", "strategy"),
        ("{connection: warehouse, table: t, format: parquet}", "format applies to file and object-store sinks"),
        ("{connection: inbox, table: t, strategy: merge, primary_key: [id]}", "supports strategies"),
        ("{connection: warehouse, table: t, strategy: partition_replace}", "needs partitions"),
    ],
)
def test_sink_rules(tmp_path: Path, sink: str, expected: str) -> None:
    text = BASE.replace("{connection: warehouse, table: raw.orders, strategy: append}", sink)
    assert expected in one(tmp_path, text)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{connection: inbox, path: '*.csv'}", "a path source needs format"),
        ("{connection: inbox, path: '*.csv', format: csv, table: t}", "exactly one of table, query or path"),
        ("{connection: warehouse, path: '*.csv', format: csv}", "path applies to files and object stores"),
        ("{connection: warehouse, table: t, params: {a: 1}}", "params apply only to a query source"),
        ("{connection: inbox, path: '*.csv', format: xml}", "format"),
        ("{connection: inbox, path: '*.csv', format: csv, batch_rows: 0}", "batch_rows"),
    ],
)
def test_source_rules(tmp_path: Path, source: str, expected: str) -> None:
    text = BASE.replace('{connection: inbox, path: "*.csv", format: csv}', source)
    assert expected in one(tmp_path, text)


def test_incremental_strategy_needs_cursor(tmp_path: Path) -> None:
    text = BASE.replace("strategy: append", "strategy: incremental")
    assert "strategy incremental needs source.incremental" in one(tmp_path, text)


def test_append_with_lookback_would_duplicate(tmp_path: Path) -> None:
    text = BASE.replace("format: csv}", "format: csv, incremental: {cursor: ts, lookback: 1h}}")
    assert "append with a lookback would load rows twice" in one(tmp_path, text)


def test_files_sink_cannot_skip_reread_rows(tmp_path: Path) -> None:
    text = BASE.replace("format: csv}", "format: csv, incremental: {cursor: ts, lookback: 1h}}").replace(
        "{connection: warehouse, table: raw.orders, strategy: append}",
        "{connection: inbox, table: out, format: parquet, strategy: incremental, primary_key: [id]}",
    )
    assert "cannot skip re-read rows; drop lookback" in one(tmp_path, text)


def test_bad_duration(tmp_path: Path) -> None:
    text = BASE.replace("format: csv}", "format: csv, incremental: {cursor: ts, lookback: soon}}")
    assert "'soon' is not a duration" in one(tmp_path, text)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{type: decimal}", "type: decimal needs precision"),
        ("{type: int64, precision: 3}", "precision/scale apply only to type: decimal"),
        ("{type: decimal, precision: 3, scale: 5}", "scale cannot exceed precision"),
        ("{type: string, tz: UTC}", "tz applies only to type: timestamp"),
        ("{regex: '(unclosed'}", "regex does not compile"),
        ("{type: varchar}", "type"),
        ("{allowed: []}", "allowed"),
    ],
)
def test_contract_rules(tmp_path: Path, rule: str, expected: str) -> None:
    text = BASE + f"    schema_contract: {{columns: {{c: {rule}}}}}\n"
    assert expected in one(tmp_path, text)


def test_memory_duckdb_refused(tmp_path: Path) -> None:
    text = BASE.replace("path: w.duckdb", "path: ':memory:'")
    assert "':memory:' cannot keep state" in one(tmp_path, text)


def test_all_problems_are_listed(tmp_path: Path) -> None:
    text = BASE.replace("strategy: append}", "strategy: append, optoins: {}}").replace(
        "{type: files, root: data}", "{type: files, rot: data}"
    )
    lines = problems(tmp_path, text)
    assert len(lines) == 2
    assert any("did you mean 'root'" in line for line in lines)


def test_registry_connections_and_defaults_merge(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        version: 1
        defaults:
          retry: {attempts: 3, backoff_seconds: 1}
          quarantine: {dir: from_registry}
        connections:
          inbox: {type: files, root: registry_root}
          shared: {type: duckdb, path: shared.duckdb}
        """,
        "registry.yaml",
    )
    manifest = BASE.replace("version: 1", "version: 1\ndefaults:\n  quarantine: {dir: from_manifest}")
    loaded = load_manifest(write(tmp_path, manifest), [tmp_path / "registry.yaml"])
    process = loaded.manifest.processes[0]
    assert process.retry.attempts == 3  # from the registry defaults
    assert process.quarantine.dir == "from_manifest"  # manifest defaults win over the registry
    assert loaded.manifest.connections["inbox"].root == "data"  # manifest connection wins
    assert "shared" in loaded.manifest.connections


def test_process_value_wins_over_defaults(tmp_path: Path) -> None:
    text = BASE.replace("version: 1", "version: 1\ndefaults:\n  retry: {attempts: 4}") + "    retry: {attempts: 1}\n"
    assert load_manifest(write(tmp_path, text)).manifest.processes[0].retry.attempts == 1


def test_registry_error_names_the_registry(tmp_path: Path) -> None:
    registry = write(tmp_path, "connections: {x: {type: files, rooot: a}}\n", "reg.yaml")
    with pytest.raises(ManifestError) as info:
        load_manifest(write(tmp_path, BASE), [registry])
    assert "reg.yaml" in str(info.value) and "did you mean 'root'" in str(info.value)


def test_registry_changes_the_hash(tmp_path: Path) -> None:
    registry = write(tmp_path, "defaults: {retry: {attempts: 1}}\n", "reg.yaml")
    assert load_manifest(write(tmp_path, BASE)).sha256 != load_manifest(tmp_path / "m.yaml", [registry]).sha256
