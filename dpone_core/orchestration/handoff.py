"""Copy-paste handoff to a scheduler: a cron line, a Kubernetes CronJob, an Airflow DAG, Dagster Definitions.

Cron and Kubernetes have no locks, state or retries of their own, so their command is
``dpone orchestrate run`` (local lock, durable job state, resume policy, artifacts). Airflow and
Dagster already supply locking (``max_active_runs``, pools), retries and run history, so their
snippets use our native integrations, ``DponeRunOperator`` and ``build_dpone_assets``, which call
the same ``dpone_core.run`` (ARCHITECTURE §6). Each scheduled run gets a deterministic run id per
logical date, which is what makes a re-triggered run a no-op instead of a double load.

Every snippet is built from data (``yaml.safe_dump`` for the CronJob, ``repr`` for Python string
literals), never by pasting user text into code. Containers (Docker Compose, Kubernetes) are
described by a :class:`ContainerSpec`: the environment the manifest's ``${env:...}`` references
need, always taken from a platform secret by name (never a value), and the folders that must
outlive a pod (locks, job state, evidence, a DuckDB file).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_core.orchestration import containers

DEFAULT_SCHEDULE = "0 2 * * *"
DEFAULT_IMAGE = "dpone:latest"
_CRON_FIELDS = 5


@dataclass(frozen=True)
class EnvVar:
    """An environment variable a run needs (a ``${env:NAME}`` reference); ``secret`` when a secret field names it."""

    name: str
    secret: bool = True


@dataclass(frozen=True)
class SecretFile:
    """A file a run reads (a ``${file:...}`` reference): ``key`` in the platform secret, ``path`` in the container."""

    key: str
    path: str


@dataclass(frozen=True)
class ContainerSpec:
    """How a containerised run gets its environment and durable folders (Docker Compose, Kubernetes)."""

    workdir: str = "/app"
    """The project inside the image: relative manifest, lock and state paths resolve against it."""
    durable_paths: tuple[str, ...] = ("/app/.dpone",)
    """Absolute container folders on durable storage (one claim; a subPath each when there are several)."""
    env: tuple[EnvVar, ...] = ()
    volume_claim: str = "dpone-state"
    secret_name: str = "dpone-secrets"
    """The Kubernetes Secret holding every variable of ``env`` (one key per variable name)."""
    env_file: str = "dpone.env"
    """The Docker env_file, beside docker-compose.yml, that the operator creates (never rendered)."""
    secret_files: tuple[SecretFile, ...] = ()
    """Files the manifest reads by ``${file:...}``, mounted from a platform secret at their path."""
    files_secret_name: str = "dpone-files"
    """The Kubernetes Secret holding every file of ``secret_files`` (one key each)."""


@dataclass(frozen=True)
class HandoffSpec:
    """What a scheduled run needs: the manifest, the selection and the orchestrate options."""

    manifest_path: str
    selector: str | None = None
    run_id_prefix: str | None = None
    concurrency_key: str | None = None
    retry_attempts: int | None = None
    retry_backoff_seconds: float | None = None
    retry_backoff: str | None = None
    lock_dir: str = ".dpone/locks"
    lock_ttl_seconds: float = 3600.0
    state_dir: str = ".dpone/orchestration-state"
    registry_paths: tuple[str, ...] = ()
    schedule: str = DEFAULT_SCHEDULE
    image: str = DEFAULT_IMAGE
    workdir: str = field(default_factory=lambda: str(Path.cwd()))
    resume_policy: str = "fail"
    container: ContainerSpec = field(default_factory=ContainerSpec)
    upstreams: tuple[str, ...] = ()
    """Names of the specs this one waits for (Docker Compose ``depends_on``)."""
    dagster_secrets: tuple[str, ...] = ()
    """Names of ``${dagster:<name>}`` references, each given ``dg.EnvVar("<NAME>")``."""

    @property
    def name(self) -> str:
        """A name safe for DAG ids, Kubernetes objects and run ids: the selector or the manifest stem."""
        base = self.run_id_prefix or self.selector or Path(self.manifest_path).stem
        return re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_").lower() or "dpone"


@dataclass(frozen=True)
class SchedulerHandoff:
    """The snippets, ready to paste; ``to_dict`` is what ``orchestrated_run.json`` carries."""

    cron_command: str
    crontab_line: str
    kubernetes_cronjob: str
    airflow_dag: str
    dagster_definitions: str

    def to_dict(self) -> dict[str, str]:
        """Field name -> snippet."""
        return {
            "cron_command": self.cron_command,
            "crontab_line": self.crontab_line,
            "kubernetes_cronjob": self.kubernetes_cronjob,
            "airflow_dag": self.airflow_dag,
            "dagster_definitions": self.dagster_definitions,
        }


class SchedulerHandoffBuilder:
    """Builds :class:`SchedulerHandoff` snippets from a :class:`HandoffSpec`.

    >>> handoff = SchedulerHandoffBuilder().build(HandoffSpec("m/orders.yaml", selector="orders", workdir="/srv"))
    >>> handoff.cron_command.split()[:4]
    ['cd', '/srv', '&&', 'dpone']
    """

    def build(self, spec: HandoffSpec) -> SchedulerHandoff:
        """Every snippet for ``spec``."""
        if len(spec.schedule.split()) != _CRON_FIELDS:
            raise ValueError(f"schedule '{spec.schedule}' is not a five-field cron expression")
        return SchedulerHandoff(
            cron_command=self.cron_command(spec),
            crontab_line=self.crontab_line(spec),
            kubernetes_cronjob=self.kubernetes_cronjob(spec),
            airflow_dag=self.airflow_dag(spec),
            dagster_definitions=self.dagster_definitions(spec),
        )

    # ---- cron and Kubernetes: dpone orchestrate run ------------------------------------------
    def orchestrate_args(self, spec: HandoffSpec, manifest: str, run_id: str) -> list[str]:
        """Argument vector of ``dpone orchestrate run`` (``run_id`` may hold a shell expansion)."""
        args = ["dpone", "orchestrate", "run", "--manifest", manifest]
        if spec.selector:
            args += ["--selector", spec.selector]
        for registry in spec.registry_paths:
            args += ["--registry", registry]
        args += ["--run-id", run_id, "--concurrency-key", spec.concurrency_key or spec.name]
        if spec.retry_attempts is not None:
            args += ["--retry-attempts", str(spec.retry_attempts)]
        if spec.retry_backoff_seconds is not None:
            args += ["--retry-backoff-seconds", f"{spec.retry_backoff_seconds:g}"]
        if spec.retry_backoff is not None:
            args += ["--retry-backoff", spec.retry_backoff]
        args += [
            "--lock-dir", spec.lock_dir,
            "--lock-ttl-seconds", f"{spec.lock_ttl_seconds:g}",
            "--state-dir", spec.state_dir,
            "--resume-policy", spec.resume_policy,
            "--output-dir", f".dpone/orchestration/{run_id}",
            "--format", "json",
        ]  # fmt: skip
        return args

    def _shell(self, spec: HandoffSpec, manifest: str, date_expr: str) -> str:
        """Quote every argument except the run id, whose date expansion must reach the shell."""
        marker = "__DPONE_RUN_ID__"
        quoted = shlex.join(self.orchestrate_args(spec, manifest, marker))
        return quoted.replace(marker, f'"{spec.name}_{date_expr}"')

    def cron_command(self, spec: HandoffSpec) -> str:
        """Shell command for cron or CI: one run id per scheduled UTC slot (day, or minute when more often)."""
        return f"cd {shlex.quote(spec.workdir)} && " + self._shell(spec, spec.manifest_path, run_id_date(spec.schedule))

    def crontab_line(self, spec: HandoffSpec) -> str:
        """A crontab entry (``%`` is escaped because cron turns it into a newline)."""
        command = self.cron_command(spec).replace("%", r"\%")
        return f"{spec.schedule} {command} >> .dpone/orchestration/{spec.name}.log 2>&1"

    def kubernetes_cronjob(self, spec: HandoffSpec) -> str:
        """A ``batch/v1`` CronJob: no overlapping runs, no pod retries (dpone retries inside)."""
        return self.kubernetes_cronjobs([spec])

    def kubernetes_cronjobs(self, specs: Sequence[HandoffSpec]) -> str:
        """One CronJob per spec, as one multi-document YAML stream (see :mod:`.containers`)."""
        return containers.kubernetes_cronjobs([(s, self.scheduled_command(s)) for s in specs])

    def cronjob_document(self, spec: HandoffSpec) -> dict[str, Any]:
        """The CronJob of one spec, as data."""
        return containers.cronjob_document(spec, self.scheduled_command(spec))

    def docker_compose(self, specs: Sequence[HandoffSpec]) -> str:
        """A compose file: one one-shot service per spec, started by the host's cron (see :mod:`.containers`)."""
        return containers.docker_compose([(s, self.scheduled_command(s)) for s in specs])

    def scheduled_command(self, spec: HandoffSpec) -> str:
        """The shell command a container runs for ``spec``: one run id per scheduled slot."""
        return self._shell(spec, spec.manifest_path, run_id_date(spec.schedule))

    # ---- Airflow and Dagster: the native integrations ----------------------------------------
    def airflow_dag(self, spec: HandoffSpec) -> str:
        """An Airflow 3 DAG with one ``DponeRunOperator`` (run id from the logical date)."""
        manifest = str(Path(spec.workdir, spec.manifest_path))
        lines = [
            f'"""dpone handoff: {spec.name} (generated by dpone orchestrate)."""',
            "",
            "from datetime import datetime, timedelta",
            "",
            "from airflow.sdk import DAG",
            "",
            "from dpone_provider.operators.run import DponeRunOperator",
            "",
            "with DAG(",
            f"    dag_id={'dpone_' + spec.name!r},",
            f"    schedule={spec.schedule!r},",
            "    start_date=datetime(2026, 1, 1),",
            "    catchup=False,",
            "    max_active_runs=1,  # Airflow, not a file lock, keeps runs of this DAG apart",
            "    tags=['dpone'],",
            ") as dag:",
            "    DponeRunOperator(",
            f"        task_id={spec.name!r},",
            f"        manifest={manifest!r},",
        ]
        if spec.selector:
            lines.append(f"        selector={spec.selector!r},")
        if spec.registry_paths:
            lines.append(f"        registry_paths={list(spec.registry_paths)!r},")
        lines.append(f"        run_id={spec.name + '_{{ ds_nodash }}'!r},")
        if spec.retry_attempts is not None:
            lines.append(f"        retries={spec.retry_attempts},")
        if spec.retry_backoff_seconds is not None:
            lines.append(f"        retry_delay=timedelta(seconds={spec.retry_backoff_seconds:g}),")
        if spec.concurrency_key:
            lines.append(f"        pool={spec.concurrency_key!r},  # create it: airflow pools set <name> 1 dpone")
        lines += ["    )", ""]
        return "\n".join(lines)

    def airflow_manifest_dag(self, spec: HandoffSpec) -> str:
        """An Airflow 3 DAG from ``dpone_dag``: one task per selected process, ``depends_on`` edges, chunked loads.

        Retries, pools, owners and Assets come from the manifest, as for every ``dpone_dag``. Airflow
        derives each task's dpone run id from the DAG run, so a re-run of one logical date does not
        load twice, and ``max_active_runs=1`` keeps runs of the DAG apart instead of a file lock.
        """
        manifest = str(Path(spec.workdir, spec.manifest_path))
        registry = f"    registry_paths={list(spec.registry_paths)!r},\n" if spec.registry_paths else ""
        return "\n".join(
            [
                f'"""dpone deploy profile: {spec.name}, an Airflow DAG (generated by dpone ops deploy-render)."""',
                "",
                "# The airflow DAG processor (safe mode) reads files that name both airflow and dag.",
                *_env_comment(spec, "The Airflow workers"),
                "from datetime import datetime",
                "",
                "from dpone_provider.task_group import dpone_dag",
                "",
                "dag = dpone_dag(",
                f"    {manifest!r},",
                *([f"    {spec.selector!r},"] if spec.selector else []),
                f"    dag_id={'dpone_' + spec.name!r},",
                f"    schedule={spec.schedule!r},",
                "    start_date=datetime(2026, 1, 1),",
                "    catchup=False,",
                "    max_active_runs=1,",
                registry + ")",
                "",
            ]
        )

    def dagster_definitions(self, spec: HandoffSpec) -> str:
        """Dagster ``Definitions`` with the manifest's assets, a job, a schedule and ``DponeResource``.

        Each ``${dagster:<name>}`` reference gets ``dg.EnvVar("<NAME>")``, so Dagster shows the
        variable's name and resolves it only when a run starts.
        """
        manifest = str(Path(spec.workdir, spec.manifest_path))
        selector = f", selector={spec.selector!r}" if spec.selector else ""
        secrets = ", ".join(
            f"{n!r}: dg.EnvVar({re.sub(r'[^A-Za-z0-9_]', '_', n).upper()!r})" for n in spec.dagster_secrets
        )
        resource = f"DponeResource(secrets={{{secrets}}})" if secrets else "DponeResource()"
        return "\n".join(
            [
                f'"""dpone handoff: {spec.name} (generated by dpone)."""',
                "",
                *_env_comment(spec, "The Dagster code location"),
                "import dagster as dg",
                "",
                "from dpone_dagster import DponeResource, build_dpone_assets",
                "",
                f"assets = build_dpone_assets({manifest!r}{selector})",
                f"job = dg.define_asset_job({'dpone_' + spec.name + '_job'!r}, selection=dg.AssetSelection.all())",
                "defs = dg.Definitions(",
                "    assets=assets,",
                "    jobs=[job],",
                f"    schedules=[dg.ScheduleDefinition(job=job, cron_schedule={spec.schedule!r})],",
                f"    resources={{'dpone': {resource}}},",
                ")",
                "",
            ]
        )


def run_id_date(schedule: str) -> str:
    """The shell expansion that names one scheduled run: the UTC day, or the minute when it fires more often.

    A day-long run id on an hourly schedule would make every run after the first a no-op.

    >>> run_id_date("0 2 * * *"), run_id_date("*/15 * * * *")
    ('$(date -u +%Y%m%d)', '$(date -u +%Y%m%dT%H%M)')
    """
    minute, hour = schedule.split()[:2]
    return "$(date -u +%Y%m%d)" if minute.isdigit() and hour.isdigit() else "$(date -u +%Y%m%dT%H%M)"


def _env_comment(spec: HandoffSpec, where: str) -> list[str]:
    """Comment lines naming the variables ``where`` must provide (names only, never a value)."""
    if not spec.container.env:
        return []
    names = ", ".join(v.name + (" (secret)" if v.secret else "") for v in spec.container.env)
    return [f"# {where} must set, from the platform's secret store: {names}", ""]
