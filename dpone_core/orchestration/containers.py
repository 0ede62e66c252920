"""Container handoffs: a Kubernetes CronJob and a Docker Compose file running ``dpone orchestrate run``.

Both are built as data and dumped with ``yaml.safe_dump``. What a run needs from the platform is
named, never inlined: variables come from one Secret (Kubernetes ``secretKeyRef``) or an env_file
(Compose), files the manifest reads by ``${file:...}`` are mounted read-only at their path from a
Secret volume (Kubernetes) or a compose secret, and the folders that must outlive a pod (locks, job
state, evidence, a DuckDB file) sit on one claim or named volumes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from dpone_core.orchestration.handoff import HandoffSpec

Scheduled = tuple["HandoffSpec", str]
"""A spec and the shell command its container runs."""

_FILES_VOLUME = "dpone-files"


def slug(path: str) -> str:
    """A volume / subPath name for a container folder (``/app/.dpone`` -> ``app-dpone``)."""
    return re.sub(r"[^a-z0-9]+", "-", posixpath.normpath(path).lower()).strip("-") or "root"


def k8s_name(name: str) -> str:
    """A DNS-1123 name of at most 52 characters (CronJob names leave room for the Job suffix)."""
    return ("dpone-" + re.sub(r"[^a-z0-9]+", "-", name.lower()))[:52].strip("-")


def kubernetes_cronjobs(scheduled: Sequence[Scheduled]) -> str:
    """One CronJob per spec, as one multi-document YAML stream."""
    header = (
        "# dpone handoff: locks, job state and evidence live on the claim below, so every job of\n"
        "# one deployment mounts the same claim (ReadWriteMany when pods may land on several nodes).\n"
        "# Variables and files come from the Secrets named below; create them, this file holds no value.\n"
    )
    return header + "---\n".join(yaml.safe_dump(cronjob_document(s, c), sort_keys=False) for s, c in scheduled)


def cronjob_document(spec: HandoffSpec, command: str) -> dict[str, Any]:
    """The ``batch/v1`` CronJob of one spec, as data: no overlapping runs, no pod retries (dpone retries)."""
    box = spec.container
    container: dict[str, Any] = {
        "name": "dpone",
        "image": spec.image,
        "workingDir": box.workdir,
        "command": ["/bin/sh", "-c", command],
    }
    if box.env:  # every variable from the Secret: a reference may sit inside any string (a DSN)
        container["env"] = [
            {"name": v.name, "valueFrom": {"secretKeyRef": {"name": box.secret_name, "key": v.name}}} for v in box.env
        ]
    mounts: list[dict[str, Any]] = [
        {"name": "dpone-state", "mountPath": path, **({"subPath": slug(path)} if len(box.durable_paths) > 1 else {})}
        for path in box.durable_paths
    ]
    # One file per mount (subPath), so a secret file lands at its path without hiding its folder.
    mounts += [
        {"name": _FILES_VOLUME, "mountPath": f.path, "subPath": f.key, "readOnly": True} for f in box.secret_files
    ]
    container["volumeMounts"] = mounts
    volumes: list[dict[str, Any]] = [{"name": "dpone-state", "persistentVolumeClaim": {"claimName": box.volume_claim}}]
    if box.secret_files:
        volumes.append({"name": _FILES_VOLUME, "secret": {"secretName": box.files_secret_name, "defaultMode": 0o400}})
    pod = {"restartPolicy": "Never", "containers": [container], "volumes": volumes}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": k8s_name(spec.name), "labels": {"app.kubernetes.io/name": "dpone"}},
        "spec": {
            "schedule": spec.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": pod}}},
        },
    }


def docker_compose(scheduled: Sequence[Scheduled]) -> str:
    """A compose file: one service per spec, ``depends_on`` for upstreams, named volumes, file secrets."""
    specs = [s for s, _ in scheduled]
    services = {k8s_name(s.name): compose_service(s, c) for s, c in scheduled}
    volumes: dict[str, dict[str, Any]] = {slug(p): {} for s in specs for p in s.container.durable_paths}
    files = {f.key: {"file": f"./secrets/{f.key}"} for s in specs for f in s.container.secret_files}
    waited = {k8s_name(u) for s in specs for u in s.upstreams}
    cron = [f"#   {s.schedule} cd <this folder> && docker compose run --rm {k8s_name(s.name)}" for s in specs]
    header = [
        "# dpone handoff: compose has no scheduler; run the services from the host's crontab:",
        *[line for line, s in zip(cron, specs, strict=True) if k8s_name(s.name) not in waited],
        f"# Variables come from {specs[0].container.env_file} beside this file (create it; it is not rendered),",
        "# and the named volumes keep locks, job state and evidence between runs.",
    ]
    if files:
        header.append("# Files the manifest reads by ${file:...} come from ./secrets/<name> (create them).")
    document: dict[str, Any] = {"services": services, "volumes": volumes}
    if files:
        document["secrets"] = files
    return "\n".join(header) + "\n" + yaml.safe_dump(document, sort_keys=False)


def compose_service(spec: HandoffSpec, command: str) -> dict[str, Any]:
    """One one-shot service running ``dpone orchestrate run`` (``$`` doubled: compose interpolates it)."""
    box = spec.container
    service: dict[str, Any] = {
        "image": spec.image,
        "working_dir": box.workdir,
        "entrypoint": ["/bin/sh", "-c"],
        "command": [command.replace("$", "$$")],
        "restart": "no",
        "labels": {"dpone.schedule": spec.schedule},
    }
    if box.env:
        service["env_file"] = [box.env_file]
    service["volumes"] = [{"type": "volume", "source": slug(p), "target": p} for p in box.durable_paths]
    if box.secret_files:
        service["secrets"] = [{"source": f.key, "target": f.path, "mode": 0o400} for f in box.secret_files]
    if spec.upstreams:
        service["depends_on"] = {k8s_name(u): {"condition": "service_completed_successfully"} for u in spec.upstreams}
    return service
