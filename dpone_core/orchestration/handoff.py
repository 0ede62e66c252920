"""Copy-paste handoff to a scheduler: a cron line, a Kubernetes CronJob, an Airflow DAG, Dagster Definitions.

Cron and Kubernetes have no locks, state or retries of their own, so their command is
``dpone orchestrate run`` (local lock, durable job state, resume policy, artifacts). Airflow and
Dagster already supply locking (``max_active_runs``, pools), retries and run history, so their
snippets use our native integrations, ``DponeRunOperator`` and ``build_dpone_assets``, which call
the same ``dpone_core.run`` (ARCHITECTURE §6). Each scheduled run gets a deterministic run id per
logical date, which is what makes a re-triggered run a no-op instead of a double load.

Every snippet is built from data (``yaml.safe_dump`` for the CronJob, ``repr`` for Python string
literals), never by pasting user text into code.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SCHEDULE = "0 2 * * *"
DEFAULT_IMAGE = "dpone:latest"
_CRON_FIELDS = 5


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
            "--resume-policy", "fail",
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
        """Shell command for cron or CI: one run id per UTC day, fail-closed resume policy."""
        return f"cd {shlex.quote(spec.workdir)} && " + self._shell(spec, spec.manifest_path, "$(date -u +%Y%m%d)")

    def crontab_line(self, spec: HandoffSpec) -> str:
        """A crontab entry (``%`` is escaped because cron turns it into a newline)."""
        command = self.cron_command(spec).replace("%", r"\%")
        return f"{spec.schedule} {command} >> .dpone/orchestration/{spec.name}.log 2>&1"

    def kubernetes_cronjob(self, spec: HandoffSpec) -> str:
        """A ``batch/v1`` CronJob: no overlapping runs, no pod retries (dpone retries inside)."""
        name = spec.name.replace("_", "-")[:52]
        command = self._shell(spec, spec.manifest_path, "$(date -u +%Y%m%d)")
        document: dict[str, Any] = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": f"dpone-{name}", "labels": {"app.kubernetes.io/name": "dpone"}},
            "spec": {
                "schedule": spec.schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "dpone",
                                        "image": spec.image,
                                        "workingDir": "/app",
                                        "command": ["/bin/sh", "-c", command],
                                        "volumeMounts": [{"name": "dpone-state", "mountPath": "/app/.dpone"}],
                                    }
                                ],
                                "volumes": [
                                    {"name": "dpone-state", "persistentVolumeClaim": {"claimName": "dpone-state"}}
                                ],
                            }
                        },
                    }
                },
            },
        }
        header = (
            "# dpone handoff: locks and job state live on the dpone-state volume, so keep one\n"
            "# ReadWriteOnce claim per schedule; secrets come from env (${env:...} in the manifest).\n"
        )
        return header + yaml.safe_dump(document, sort_keys=False)

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

    def dagster_definitions(self, spec: HandoffSpec) -> str:
        """Dagster ``Definitions`` with the manifest's assets and a schedule for them."""
        manifest = str(Path(spec.workdir, spec.manifest_path))
        selector = f", selector={spec.selector!r}" if spec.selector else ""
        return "\n".join(
            [
                f'"""dpone handoff: {spec.name} (generated by dpone orchestrate)."""',
                "",
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
                "    resources={'dpone': DponeResource()},",
                ")",
                "",
            ]
        )
