"""Provider metadata: the dict's shape, and that Airflow's ProvidersManager registers dpone from it."""

from __future__ import annotations

import ast
from importlib.metadata import distribution, entry_points
from pathlib import Path

from dpone_provider.get_provider_info import get_provider_info


def test_provider_info_shape() -> None:
    info = get_provider_info()
    assert info["package-name"] == "dpone" == distribution("dpone").metadata["Name"]
    assert info["name"] == "dpone" and info["description"]
    assert "versions" not in info  # the version comes from the distribution metadata
    modules = {
        key: [m for entry in info[key] for m in entry["python-modules"]]
        for key in ("hooks", "operators", "sensors", "triggers")
    }
    assert modules == {
        "hooks": ["dpone_provider.hooks.dpone", "dpone_provider.hooks.connection_types"],
        "operators": ["dpone_provider.operators.run", "dpone_provider.operators.check"],
        "sensors": ["dpone_provider.sensors.load"],
        "triggers": ["dpone_provider.triggers.load"],
    }
    conn_type, duckdb, clickhouse = info["connection-types"]
    assert (duckdb["connection-type"], clickhouse["connection-type"]) == ("duckdb", "clickhouse")
    assert duckdb["hook-class-name"] == "dpone_provider.hooks.connection_types.DuckDBConnectionHook"
    for listed in (*modules["hooks"], *modules["operators"]):
        __import__(listed)  # every module the provider lists imports
    assert conn_type["connection-type"] == "dpone"
    assert conn_type["hook-class-name"] == "dpone_provider.hooks.dpone.DponeHook"
    assert set(conn_type["conn-fields"]) == {"manifest_dir", "registry_paths"}


def test_provider_info_module_imports_nothing() -> None:
    source = Path(__file__).resolve().parents[2] / "dpone_provider" / "get_provider_info.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_entry_point_is_declared() -> None:
    (ep,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("dpone_provider")]
    assert ep.value == "dpone_provider.get_provider_info:get_provider_info"
    assert ep.load()()["package-name"] == "dpone"


def test_providers_manager_registers_dpone() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "dpone" in manager.providers
    assert manager.providers["dpone"].version == distribution("dpone").version
    triggers = {t.trigger_class_name for t in manager.trigger if t.package_name == "dpone"}
    assert "dpone_provider.triggers.load" in triggers
    assert manager.field_behaviours["dpone"]["hidden_fields"] == ["host", "schema", "login", "password", "port"]
    hook = ProvidersManagerTaskRuntime().hooks["dpone"]
    assert hook is not None and hook.hook_class_name == "dpone_provider.hooks.dpone.DponeHook"
    assert (hook.connection_id_attribute_name, hook.connection_testable) == ("dpone_conn_id", True)


def test_dpone_core_never_imports_airflow() -> None:
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, dpone_core\n"
        "for m in pkgutil.walk_packages(dpone_core.__path__, 'dpone_core.'):\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "print(sorted(n for n in sys.modules if n == 'airflow' or n.startswith('airflow.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
