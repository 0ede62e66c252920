"""`dpone ops deploy-render` end to end: the real CLI renders each target, and each file is loaded by its platform.

The Airflow DAG is parsed by Airflow's DagBag (in a subprocess with its own AIRFLOW_HOME), the Dagster file is
imported and validated as Definitions, the CronJob is deserialised into the kubernetes client's V1CronJob and
must survive the round trip unchanged (so no key is misspelt), and the compose file is checked against the
compose structure here, because `docker compose` is not installed on the test machines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = "dags_examples/quickstart/orders.yaml"
SECRET = "s3cr3t-Never-Rendered-81f2"  # exported while rendering; must appear in no file
TARGETS = {
    "docker-compose": "docker-compose.yml",
    "k8s-cronjob": "k8s-cronjob.yml",
    "airflow": "airflow_dag.py",
    "dagster": "dagster_asset.py",
}
PG_MANIFEST = """\
    version: 1
    defaults:
      runtime_evidence: {output_dir: .dpone/evidence}
    connections:
      shop: {type: postgres, host: "${env:SHOP_PG_HOST}", database: shop, user: loader,
             password: "${env:SHOP_PG_PASSWORD}"}
      warehouse: {type: postgres, host: wh, database: wh, user: loader, password: "${file:/run/secrets/wh_pg}"}
    processes:
      - name: shop_orders
        source: {connection: shop, table: public.orders, incremental: {cursor: updated_at}}
        sink: {connection: warehouse, table: staging.orders, strategy: merge, primary_key: [id]}
      - name: order_totals
        depends_on: [shop_orders]
        source: {connection: warehouse, query: "SELECT status, sum(amount) AS total FROM staging.orders GROUP BY 1"}
        sink: {connection: warehouse, table: marts.order_totals, strategy: full_refresh}
"""


def deploy(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``dpone ops deploy-render <args>`` in ``cwd``, with the secret exported as the manifest expects."""
    env = {**os.environ, "SHOP_PG_PASSWORD": SECRET, "SHOP_PG_HOST": "shop.internal"}
    command = [sys.executable, "-m", "dpone_core.cli.main", "ops", "deploy-render", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def render(cwd: Path, manifest: str, target: str, out: Path, *extra: str) -> dict[str, Any]:
    """Render one target as JSON; returns the report and checks that the file and the report were written."""
    proc = deploy(cwd, "--target", target, "--manifest", manifest, "--output-dir", str(out), "--format", "json", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["kind"] == "deploy_profile" and report["passed"] and report["target"] == target
    assert set(report["files"]) == {TARGETS[target]} and (out / TARGETS[target]).is_file()
    assert {Path(p).name for p in report["written"]} == {"deploy_render.json", "deploy_render.md"}
    return report


@pytest.fixture()
def pg_project(tmp_path: Path) -> Path:
    """A project folder holding ``manifests/shop.yaml``: Postgres to Postgres, secrets as references."""
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "shop.yaml").write_text(textwrap.dedent(PG_MANIFEST), encoding="utf-8")
    return tmp_path


def assert_no_secret(out: Path) -> None:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert SECRET not in path.read_text(encoding="utf-8"), path


# ---- Kubernetes --------------------------------------------------------------------------------
def cronjobs(path: Path) -> list[Any]:
    """Each document as a ``V1CronJob``; serialising it back must give the document (nothing unknown or lost)."""
    from kubernetes.client import ApiClient

    api = ApiClient()
    jobs = []
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        job = api.deserialize(json.dumps(document), "V1CronJob", "application/json")
        assert api.sanitize_for_serialization(job) == document
        assert job.spec.schedule and job.spec.job_template.spec.template.spec.containers
        jobs.append(job)
    return jobs


def test_k8s_cronjob_of_the_quickstart(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    report = render(REPO, QUICKSTART, "k8s-cronjob", tmp_path, "--image", "ghcr.io/acme/dpone:0.7.1")
    (job,) = cronjobs(tmp_path / "k8s-cronjob.yml")
    assert job.spec.schedule == "0 2 * * *" and job.spec.concurrency_policy == "Forbid"
    pod = job.spec.job_template.spec.template.spec
    (container,) = pod.containers
    assert container.image == "ghcr.io/acme/dpone:0.7.1" and container.command[:2] == ["/bin/sh", "-c"]
    words = container.command[2].split()
    assert words[:3] == ["dpone", "orchestrate", "run"]
    assert words[words.index("--manifest") + 1] == QUICKSTART
    assert words[words.index("--resume-policy") + 1] == "resume"
    mounts = {m.mount_path for m in container.volume_mounts}
    assert mounts == {"/app/.dpone", "/app/dags_examples/quickstart/.dpone"} == set(report["durable_paths"])
    assert pod.volumes[0].persistent_volume_claim.claim_name == "dpone-orders-state"
    assert container.env is None  # the quickstart reads no variable


def test_k8s_cronjobs_take_every_variable_from_a_secret(pg_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    out = tmp_path / "k8s"
    report = render(pg_project, "manifests/shop.yaml", "k8s-cronjob", out, "--schedule", "*/30 * * * *")
    jobs = {j.metadata.name: j for j in cronjobs(out / "k8s-cronjob.yml")}
    assert set(jobs) == {"dpone-shop-orders", "dpone-order-totals"}
    orders = jobs["dpone-shop-orders"].spec.job_template.spec.template.spec.containers[0]
    refs = {e.name: e.value_from.secret_key_ref for e in orders.env}
    assert set(refs) == {"SHOP_PG_HOST", "SHOP_PG_PASSWORD"} and all(e.value is None for e in orders.env)
    assert {(r.name, r.key) for r in refs.values()} == {
        ("dpone-shop-secrets", "SHOP_PG_HOST"),
        ("dpone-shop-secrets", "SHOP_PG_PASSWORD"),
    }
    assert jobs["dpone-order-totals"].spec.job_template.spec.template.spec.containers[0].env is None
    assert "date -u +%Y%m%dT%H%M" in orders.command[2]  # a half-hourly schedule needs a run id per slot
    assert {e["name"]: e["secret"] for e in report["environment"]} == {"SHOP_PG_HOST": False, "SHOP_PG_PASSWORD": True}
    assert any("does not wait for shop_orders" in n for n in report["notes"])
    assert any("${file:/run/secrets/wh_pg} is mounted read-only at /run/secrets/wh_pg" in n for n in report["notes"])
    for job in jobs.values():  # both processes read the warehouse password file
        pod = job.spec.job_template.spec.template.spec
        [mount] = [m for m in pod.containers[0].volume_mounts if m.name == "dpone-files"]
        assert (mount.mount_path, mount.sub_path, mount.read_only) == ("/run/secrets/wh_pg", "run-secrets-wh-pg", True)
        [files] = [v for v in pod.volumes if v.name == "dpone-files"]
        assert files.secret.secret_name == "dpone-shop-files"
    assert_no_secret(out)


# ---- Docker Compose ----------------------------------------------------------------------------
_SERVICE_KEYS = {
    "image",
    "working_dir",
    "entrypoint",
    "command",
    "restart",
    "labels",
    "env_file",
    "volumes",
    "depends_on",
    "secrets",
}


def check_compose(document: dict[str, Any]) -> dict[str, Any]:
    """The compose structure this renderer uses (a subset of the compose specification), or an assertion."""
    assert set(document) <= {"services", "volumes", "secrets", "networks", "configs", "name"}
    services, volumes = document["services"], document.get("volumes") or {}
    for name, service in services.items():
        assert set(service) <= _SERVICE_KEYS, set(service) - _SERVICE_KEYS
        assert isinstance(service["image"], str) and all(isinstance(c, str) for c in service["command"])
        assert service["restart"] == "no" and all(isinstance(f, str) for f in service.get("env_file", []))
        for volume in service["volumes"]:
            assert volume["type"] == "volume" and volume["source"] in volumes and volume["target"].startswith("/")
        for upstream, condition in (service.get("depends_on") or {}).items():
            assert upstream in services and upstream != name
            assert condition == {"condition": "service_completed_successfully"}
        # compose interpolates $NAME and ${NAME}: a dollar meant for the shell must be doubled
        assert "$(" not in service["command"][0].replace("$$(", "")
    return services


def test_docker_compose_of_the_quickstart(tmp_path: Path) -> None:
    render(REPO, QUICKSTART, "docker-compose", tmp_path)
    text = (tmp_path / "docker-compose.yml").read_text(encoding="utf-8")
    services = check_compose(yaml.safe_load(text))
    (service,) = services.values()
    assert service["command"][0].startswith("dpone orchestrate run --manifest " + QUICKSTART)
    assert "env_file" not in service and "0 2 * * * cd <this folder> && docker compose run --rm dpone-orders" in text


def test_docker_compose_reads_variables_from_an_env_file_and_orders_services(pg_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "compose"
    render(pg_project, "manifests/shop.yaml", "docker-compose", out)
    services = check_compose(yaml.safe_load((out / "docker-compose.yml").read_text(encoding="utf-8")))
    assert services["dpone-shop-orders"]["env_file"] == ["dpone.env"]
    assert services["dpone-order-totals"]["depends_on"] == {
        "dpone-shop-orders": {"condition": "service_completed_successfully"}
    }
    document = yaml.safe_load((out / "docker-compose.yml").read_text(encoding="utf-8"))
    assert document["secrets"] == {"run-secrets-wh-pg": {"file": "./secrets/run-secrets-wh-pg"}}
    assert services["dpone-shop-orders"]["secrets"] == [
        {"source": "run-secrets-wh-pg", "target": "/run/secrets/wh_pg", "mode": 0o400}
    ]
    assert_no_secret(out)


# ---- Airflow -----------------------------------------------------------------------------------
_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
dags = {d.dag_id: {t.task_id: sorted(t.upstream_task_ids) for t in d.tasks} for d in bag.dags.values()}
kinds = sorted({type(t).__name__ for d in bag.dags.values() for t in d.tasks})
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags, "kinds": kinds}))
"""


def dagbag(folder: Path, home: Path) -> dict[str, Any]:
    """What Airflow's DagBag makes of ``folder`` (run in a subprocess so AIRFLOW_HOME stays private)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "SHOP_PG_HOST": "h"})
    proc = subprocess.run(
        [sys.executable, "-c", _DAGBAG, str(folder)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.airflow
def test_airflow_dags_import_with_the_provider_tasks(pg_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("airflow.sdk")
    folder = tmp_path / "dags"
    render(REPO, QUICKSTART, "airflow", folder / "quickstart")
    render(pg_project, "manifests/shop.yaml", "airflow", folder / "shop")
    found = dagbag(folder, tmp_path / "airflow_home")
    assert found["errors"] == {}
    assert found["dags"] == {
        "dpone_orders": {"orders": []},
        "dpone_shop": {"shop_orders": [], "order_totals": ["shop_orders"]},
    }
    assert found["kinds"] == ["DponeRunOperator"]
    source = (folder / "shop" / "airflow_dag.py").read_text(encoding="utf-8")
    assert "BashOperator" not in source and "SHOP_PG_PASSWORD (secret)" in source
    assert_no_secret(folder / "shop")


# ---- Dagster -----------------------------------------------------------------------------------
def load_defs(path: Path) -> Any:
    import dagster as dg

    spec = importlib.util.spec_from_file_location(f"deploy_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defs = module.defs
    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
    return defs


@pytest.mark.dagster
def test_dagster_definitions_load_with_the_asset_keys(pg_project: Path, tmp_path: Path) -> None:
    pytest.importorskip("dagster")
    render(REPO, QUICKSTART, "dagster", tmp_path / "quickstart")
    quickstart = load_defs(tmp_path / "quickstart" / "dagster_asset.py")
    assert {k.to_user_string() for k in quickstart.resolve_all_asset_keys()} == {"analytics/orders"}
    assert [s.cron_schedule for s in quickstart.schedules] == ["0 2 * * *"]
    render(pg_project, "manifests/shop.yaml", "dagster", tmp_path / "shop", "--selector", "shop_orders")
    shop = load_defs(tmp_path / "shop" / "dagster_asset.py")
    assert {"staging/orders"} <= {k.to_user_string() for k in shop.resolve_all_asset_keys()}
    assert shop.resolve_job_def("dpone_shop_orders_job").name == "dpone_shop_orders_job"
    assert_no_secret(tmp_path / "shop")


# ---- every target, bad input and blockers ------------------------------------------------------
def test_no_target_writes_a_secret_value(pg_project: Path, tmp_path: Path) -> None:
    for target in TARGETS:
        report = render(pg_project, "manifests/shop.yaml", target, tmp_path / target)
        assert report["processes"] == ["shop_orders", "order_totals"]
        assert_no_secret(tmp_path / target)
    markdown = (tmp_path / "k8s-cronjob" / "deploy_render.md").read_text(encoding="utf-8")
    assert "| SHOP_PG_PASSWORD | True | shop_orders |" in markdown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nomad", "--manifest", QUICKSTART], "unknown target 'nomad'"),
        (["--target", "k8s-cronjobs", "--manifest", QUICKSTART], "did you mean 'k8s-cronjob'"),
        (["--target", "airflow", "--manifest", "nowhere.yaml"], "file not found"),
        (["--target", "airflow", "--manifest", QUICKSTART, "--selector", "nope"], "nope"),
        (["--target", "k8s-cronjob", "--manifest", QUICKSTART, "--schedule", "daily"], "five-field"),
        (["--target", "k8s-cronjob", "--manifest", QUICKSTART, "--resume-policy", "restart"], "cannot be scheduled"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = deploy(REPO, *args, "--output-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())


def test_an_invalid_manifest_exits_2(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("version: 1\nprocesses: []\nbogus: 1\n", encoding="utf-8")
    proc = deploy(tmp_path, "--target", "docker-compose", "--manifest", "m.yaml")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / ".dpone").exists()


def test_a_volume_over_the_manifest_folder_is_a_blocker(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "version: 1\nconnections:\n  in: {type: files, root: data}\n  wh: {type: duckdb, path: wh.duckdb}\n"
        "processes:\n  - name: t\n    source: {connection: in, path: a.csv, format: csv}\n"
        "    sink: {connection: wh, table: t, strategy: full_refresh}\n",
        encoding="utf-8",
    )
    proc = deploy(tmp_path, "--target", "k8s-cronjob", "--manifest", "m.yaml", "--output-dir", "out")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "BLOCKER /app would be a volume over the manifest's folder /app" in proc.stdout
    assert (tmp_path / "out" / "k8s-cronjob.yml").is_file() and proc.stdout.rstrip().endswith("RED")


@pytest.mark.dagster
def test_dagster_secret_references_become_env_vars_through_the_python_api(tmp_path: Path) -> None:
    pytest.importorskip("dagster")
    import dpone_dagster  # noqa: F401 - registers the ${dagster:...} scheme, as a Dagster code location does
    from dpone_core.ops.deploy_render import DeployRequest, render_deploy

    manifest = textwrap.dedent(PG_MANIFEST).replace("${env:SHOP_PG_PASSWORD}", "${dagster:shop_pg_password}")
    (tmp_path / "shop.yaml").write_text(manifest, encoding="utf-8")
    rendered = render_deploy(DeployRequest("dagster", "shop.yaml", selector="shop_orders", workdir=str(tmp_path)))
    assert rendered.passed and rendered.processes == ("shop_orders",)
    assert rendered.path == tmp_path / ".dpone" / "deploy" / "shop_orders" / "dagster_asset.py"
    assert "dg.EnvVar('SHOP_PG_PASSWORD')" in rendered.path.read_text(encoding="utf-8")
    assert load_defs(rendered.path).resolve_job_def("dpone_shop_orders_job")
    blocked = render_deploy(DeployRequest("k8s-cronjob", "shop.yaml", workdir=str(tmp_path)))
    assert blocked.report.blockers == [
        "connections.shop.password is a ${dagster:...} reference, which only dagster resolves"
    ]
