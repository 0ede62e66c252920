"""SchedulerHandoffBuilder: every snippet parses, quotes what it should, and expands the run id."""

from __future__ import annotations

import ast
import importlib.util
import shlex

import pytest
import yaml

from dpone_core.orchestration.handoff import HandoffSpec, SchedulerHandoffBuilder

SPEC = HandoffSpec(
    manifest_path="manifests/orders it's.yaml",
    selector="orders",
    concurrency_key="orders_daily",
    retry_attempts=2,
    retry_backoff_seconds=5,
    registry_paths=("reg.yaml",),
    schedule="30 1 * * *",
    workdir="/srv/dp one",
)


def test_cron_command_is_one_orchestrate_run_with_a_daily_run_id() -> None:
    handoff = SchedulerHandoffBuilder().build(SPEC)
    words = shlex.split(handoff.cron_command)
    assert words[:2] == ["cd", "/srv/dp one"] and words[3:6] == ["dpone", "orchestrate", "run"]
    options = dict(zip(words[6::2], words[7::2], strict=False))
    assert options["--manifest"] == "manifests/orders it's.yaml"
    assert options["--run-id"] == "orders_$(date -u +%Y%m%d)"  # expanded by the shell, once per day
    assert options["--concurrency-key"] == "orders_daily" and options["--resume-policy"] == "fail"
    assert options["--retry-attempts"] == "2" and options["--registry"] == "reg.yaml"
    assert '"orders_$(date -u +%Y%m%d)"' in handoff.cron_command


def test_crontab_line_escapes_percent_signs() -> None:
    line = SchedulerHandoffBuilder().build(SPEC).crontab_line
    assert line.startswith("30 1 * * * cd ")
    assert "%" not in line.replace(r"\%", "")


def test_kubernetes_cronjob_parses_and_forbids_overlap() -> None:
    document = yaml.safe_load(SchedulerHandoffBuilder().build(SPEC).kubernetes_cronjob)
    assert document["kind"] == "CronJob" and document["apiVersion"] == "batch/v1"
    spec = document["spec"]
    assert spec["schedule"] == "30 1 * * *" and spec["concurrencyPolicy"] == "Forbid"
    container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert shlex.split(container["command"][2])[:3] == ["dpone", "orchestrate", "run"]
    assert document["metadata"]["name"] == "dpone-orders"


def test_airflow_snippet_is_valid_python_using_the_native_operator() -> None:
    source = SchedulerHandoffBuilder().build(SPEC).airflow_dag
    tree = ast.parse(source)
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("dpone_provider.operators.run", "DponeRunOperator") in imports
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    call = next(n for n in calls if getattr(n.func, "id", "") == "DponeRunOperator")
    kwargs = {k.arg: k.value for k in call.keywords}
    assert ast.literal_eval(kwargs["manifest"]) == "/srv/dp one/manifests/orders it's.yaml"
    assert ast.literal_eval(kwargs["run_id"]) == "orders_{{ ds_nodash }}"
    assert ast.literal_eval(kwargs["pool"]) == "orders_daily" and ast.literal_eval(kwargs["retries"]) == 2
    assert "BashOperator" not in source


def test_dagster_snippet_is_valid_python_using_the_asset_factory() -> None:
    source = SchedulerHandoffBuilder().build(SPEC).dagster_definitions
    tree = ast.parse(source)
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("dpone_dagster", "build_dpone_assets") in imports and ("dpone_dagster", "DponeResource") in imports
    assert any(isinstance(n, ast.Name) and n.id == "defs" for n in ast.walk(tree))


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="five-field"):
        SchedulerHandoffBuilder().build(HandoffSpec("m.yaml", schedule="daily"))


def _has(module: str, name: str) -> bool:
    try:
        if importlib.util.find_spec(module) is None:
            return False
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


@pytest.mark.skipif(
    not _has("dpone_provider.operators.run", "DponeRunOperator"),
    reason="dpone_provider.operators.run.DponeRunOperator is not written yet (issue 5)",
)
def test_airflow_snippet_builds_a_dag(quickstart: object) -> None:
    from airflow.sdk import DAG

    spec = HandoffSpec(
        str(quickstart), selector="orders", concurrency_key="orders_daily", retry_attempts=1, workdir="/"
    )
    namespace: dict[str, object] = {}
    exec(compile(SchedulerHandoffBuilder().build(spec).airflow_dag, "dag.py", "exec"), namespace)
    dag = namespace["dag"]
    assert isinstance(dag, DAG) and dag.dag_id == "dpone_orders"
    (task,) = dag.tasks
    assert type(task).__name__ == "DponeRunOperator" and task.task_id == "orders"
    assert task.pool == "orders_daily" and task.retries == 1


@pytest.mark.skipif(
    not _has("dpone_dagster", "build_dpone_assets"),
    reason="dpone_dagster.build_dpone_assets is not written yet (issue 6)",
)
def test_dagster_snippet_loads_as_definitions(quickstart: object) -> None:
    import dagster as dg

    spec = HandoffSpec(str(quickstart), selector="orders", workdir="/")
    namespace: dict[str, object] = {}
    exec(compile(SchedulerHandoffBuilder().build(spec).dagster_definitions, "defs.py", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("dpone_orders_job").name == "dpone_orders_job"
