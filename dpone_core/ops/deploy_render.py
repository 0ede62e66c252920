"""``dpone ops deploy-render``: a manifest's scheduler files (Compose, a Kubernetes CronJob, Airflow, Dagster).

The files come from :class:`~dpone_core.orchestration.handoff.SchedulerHandoffBuilder`, the builder
behind ``orchestrated_run.json``'s snippets; this module reads the manifest to fill it in: the
processes the selector picks, the variables its references need, and the folders that must sit on
durable storage. Nothing is resolved. A reference stays a name (a Secret key, an env_file entry, a
Dagster ``EnvVar``), so no rendered file can hold a secret. Compose and Kubernetes have no locks or
run state of their own, so they run ``dpone orchestrate run``, one service or CronJob per process;
Airflow and Dagster use dpone's own integrations (``dpone_dag``, ``build_dpone_assets``).
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_core.api import load, processes
from dpone_core.durable import sha256_file, write_text
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.manifest.selectors import selected_upstreams
from dpone_core.model.strict import suggest
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report
from dpone_core.ops.deploy_references import (
    REFERENCE,
    FoundReference,
    env_vars,
    environment,
    file_names,
    find_references,
    unresolvable,
)
from dpone_core.orchestration.containers import slug
from dpone_core.orchestration.handoff import (
    DEFAULT_IMAGE,
    DEFAULT_SCHEDULE,
    ContainerSpec,
    HandoffSpec,
    SchedulerHandoffBuilder,
    SecretFile,
)

TARGETS = {
    "docker-compose": "docker-compose.yml",
    "k8s-cronjob": "k8s-cronjob.yml",
    "airflow": "airflow_dag.py",
    "dagster": "dagster_asset.py",
}
"""Target -> the file rendered for it."""

RESUME_POLICIES = ("resume", "fail")
"""``restart`` is refused: on a schedule it would load a committed run id again at every re-trigger."""

REPORT_STEM = "deploy_render"
_STEP = "deploy-render"
_CONTAINER_TARGETS = ("docker-compose", "k8s-cronjob")
"""A target whose platform resolves a scheme of its own."""


@dataclass(frozen=True)
class DeployRequest:
    """What to render; ``target`` is one of :data:`TARGETS`."""

    target: str
    manifest_path: str
    selector: str | None = None
    image: str = DEFAULT_IMAGE
    schedule: str = DEFAULT_SCHEDULE
    output_dir: str | None = None
    registry_paths: tuple[str, ...] = ()
    resume_policy: str = "resume"
    workdir: str = field(default_factory=lambda: str(Path.cwd()))
    """The project folder: relative paths resolve against it here, and against ``/app`` in an image."""


@dataclass(frozen=True)
class DeployRender:
    """The rendered file, the report beside it, and what the platform must provide."""

    target: str
    path: Path
    sha256: str
    processes: tuple[str, ...]
    references: tuple[FoundReference, ...]
    durable_paths: tuple[str, ...]
    report: OpsReport
    written: WrittenReport

    @property
    def passed(self) -> bool:
        """Green: rendered, and nothing the deployment would lose or cannot resolve."""
        return self.report.passed


def render_deploy(request: DeployRequest) -> DeployRender:
    """Render ``request.target``'s file and ``deploy_render.json``/``.md``; bad input raises ``ManifestError``.

    >>> render_deploy(DeployRequest("k8s-cronjob", "dags_examples/quickstart/orders.yaml")).passed  # doctest: +SKIP
    True
    """
    plan = _plan(request)
    builder = SchedulerHandoffBuilder()
    out = Path(request.workdir, request.output_dir or f".dpone/deploy/{plan.base.name}")
    path = out / TARGETS[request.target]
    write_text(path, _render(builder, request.target, plan))
    sha = sha256_file(path)
    report = OpsReport("deploy_profile", _payload(request, plan, builder, path, sha), plan.blockers)
    written = write_report(report, out, REPORT_STEM, _markdown(report))
    names = tuple(p.name for p in plan.selected)
    return DeployRender(request.target, path, sha, names, plan.refs, plan.base.container.durable_paths, report, written)


@dataclass
class _Plan:
    """What the manifest says the deployment needs, before anything is written."""

    selected: list[Process]
    refs: tuple[FoundReference, ...]
    base: HandoffSpec
    """The whole selection (Airflow, Dagster)."""
    specs: list[HandoffSpec]
    """One per process (compose, Kubernetes: ``orchestrate run`` picks one process)."""
    notes: list[str]
    blockers: list[str]


def _plan(request: DeployRequest) -> _Plan:
    _check(request)
    registries = [str(Path(request.workdir, r)) for r in request.registry_paths]
    loaded = load(Path(request.workdir, request.manifest_path), registries)
    selected = processes(loaded, request.selector)
    refs = tuple(find_references(loaded, selected))
    base = _base_spec(request, refs)
    mounts, notes, blockers = _durable_paths(loaded, selected, request, base)
    base = dataclasses.replace(base, container=dataclasses.replace(base.container, durable_paths=tuple(mounts)))
    files = _secret_files(refs, request, base) if request.target in _CONTAINER_TARGETS else {}
    base = dataclasses.replace(base, container=dataclasses.replace(base.container, secret_files=tuple(files.values())))
    specs = _process_specs(base, loaded, selected, refs, files)
    if files:
        where = _files_source(request.target, base)
        notes += [
            f"${{file:{name}}} is mounted read-only at {f.path} from {where} key {f.key}" for name, f in files.items()
        ]
    if request.target == "k8s-cronjob":
        notes += [
            f"CronJob {s.name} does not wait for {', '.join(s.upstreams)}: schedule it later"
            for s in specs
            if s.upstreams
        ]
    return _Plan(selected, refs, base, specs, notes, blockers + unresolvable(refs, request.target))


def _payload(
    request: DeployRequest, plan: _Plan, builder: SchedulerHandoffBuilder, path: Path, sha: str
) -> dict[str, Any]:
    """The report's payload: what was rendered and what the platform must provide (names only)."""
    container = request.target in _CONTAINER_TARGETS
    commands = {s.selector: shlex.join(builder.orchestrate_args(s, s.manifest_path, "<run-id>")) for s in plan.specs}
    return {
        "target": request.target,
        "manifest": request.manifest_path,
        "selector": request.selector,
        "image": request.image,
        "schedule": request.schedule,
        "resume_policy": request.resume_policy,
        "processes": [p.name for p in plan.selected],
        "path": str(path),
        "files": {path.name: sha},
        "commands": commands if container else {},
        "environment": environment(plan.refs),
        "secret_source": _secret_source(request.target, plan.base),
        "references": [dataclasses.asdict(r) for r in plan.refs if r.scheme != "env"],
        "durable_paths": list(plan.base.container.durable_paths),
        "notes": plan.notes,
    }


def _check(request: DeployRequest) -> None:
    """Refuse an unknown target, schedule or resume policy before anything is read."""
    if request.target not in TARGETS:
        hint = suggest(request.target, list(TARGETS))
        raise ConfigurationError(
            f"unknown target {request.target!r}" + (f"; did you mean {hint!r}?" if hint else ""),
            step=_STEP,
            fix="use --target " + " | ".join(TARGETS),
        )
    if len(request.schedule.split()) != 5:
        raise ConfigurationError(
            f"schedule {request.schedule!r} is not a five-field cron expression", step=_STEP, fix='e.g. "0 2 * * *"'
        )
    if request.resume_policy not in RESUME_POLICIES:
        raise ConfigurationError(
            f"resume policy {request.resume_policy!r} cannot be scheduled",
            step=_STEP,
            fix="use resume (retry a failed run id) or fail (stop for review)",
        )


def _base_spec(request: DeployRequest, refs: tuple[FoundReference, ...]) -> HandoffSpec:
    spec = HandoffSpec(
        manifest_path=request.manifest_path,
        selector=request.selector,
        registry_paths=request.registry_paths,
        schedule=request.schedule,
        image=request.image,
        workdir=request.workdir,
        resume_policy=request.resume_policy,
        dagster_secrets=tuple(sorted({r.name for r in refs if r.scheme == "dagster"})),
    )
    name = spec.name.replace("_", "-")
    box = ContainerSpec(
        env=env_vars(refs),
        volume_claim=f"dpone-{name}-state",
        secret_name=f"dpone-{name}-secrets",
        files_secret_name=f"dpone-{name}-files",
    )
    return dataclasses.replace(spec, container=box)


def _process_specs(
    base: HandoffSpec,
    loaded: LoadedManifest,
    selected: list[Process],
    refs: tuple[FoundReference, ...],
    files: dict[str, SecretFile],
) -> list[HandoffSpec]:
    """One spec per process (``orchestrate run`` picks one); the lock key is orchestrate's own default."""
    graph = {p.name: tuple(p.depends_on) for p in loaded.manifest.processes}
    names = {p.name for p in selected}
    specs = []
    for p in selected:
        own = [r for r in refs if r.process == p.name]
        mounted = tuple(files[n] for n in sorted({r.name for r in own if r.scheme == "file"}) if n in files)
        box = dataclasses.replace(base.container, env=env_vars(own), secret_files=mounted)
        upstreams = tuple(sorted(selected_upstreams(p.name, graph, names)))
        specs.append(
            dataclasses.replace(
                base,
                selector=p.name,
                concurrency_key=f"{loaded.path.stem}.{p.name}",
                container=box,
                upstreams=upstreams,
            )
        )
    return specs


def _secret_files(refs: tuple[FoundReference, ...], request: DeployRequest, spec: HandoffSpec) -> dict[str, SecretFile]:
    """Each ``${file:...}`` name -> where the container finds it (relative names: beside the manifest)."""
    root = spec.container.workdir
    manifest_dir = posixpath.dirname(_inside(root, Path(request.manifest_path).as_posix()))
    found = {}
    for name in file_names(refs):
        path = _inside(manifest_dir, name)
        found[name] = SecretFile(slug(path), path)
    return found


def _files_source(target: str, spec: HandoffSpec) -> str:
    """Where the rendered file takes the ``${file:...}`` files from (a name, never a value)."""
    if target == "k8s-cronjob":
        return f"Kubernetes Secret {spec.container.files_secret_name}"
    return "the compose secret ./secrets/<key>"


def _durable_paths(
    loaded: LoadedManifest, selected: list[Process], request: DeployRequest, spec: HandoffSpec
) -> tuple[list[str], list[str], list[str]]:
    """Folders to keep on durable storage, notes, and blockers (a volume that would hide the manifest).

    Containers see the project under ``/app`` and also need orchestrate's locks and job state;
    Airflow and Dagster run on the host, where only the manifest's own folders matter.
    """
    container = request.target in _CONTAINER_TARGETS
    root = spec.container.workdir if container else Path(request.workdir).as_posix()
    manifest_dir = posixpath.dirname(_inside(root, Path(request.manifest_path).as_posix()))
    wanted: list[str] = []
    if container:
        orchestration = [_inside(root, p) for p in (spec.lock_dir, spec.state_dir, ".dpone/orchestration")]
        common = posixpath.commonpath(orchestration)
        wanted += [common] if common != root else orchestration
    notes: list[str] = []
    for what, raw in _state_folders(loaded, selected):
        if REFERENCE.search(raw):
            notes.append(f"{what} is {raw}: put that folder on durable storage yourself")
        else:
            wanted.append(_inside(manifest_dir, raw))
    mounts = sorted({p for p in wanted if not any(_under(p, q) for q in wanted)})
    blockers = [
        f"{m} would be a volume over the manifest's folder {manifest_dir}: move sink files, evidence and quarantine "
        "into a subfolder such as .dpone/"
        for m in mounts
        if container and (m == manifest_dir or _under(manifest_dir, m))
    ]
    return mounts, notes, blockers


def _under(path: str, folder: str) -> bool:
    """``path`` is strictly inside ``folder``."""
    return path != folder and path.startswith(folder.rstrip("/") + "/")


def _state_folders(loaded: LoadedManifest, selected: list[Process]) -> Iterator[tuple[str, str]]:
    """(what, path) of each folder a run writes and must find again: evidence, quarantine, chunks, local sinks."""
    for process in selected:
        if process.runtime_evidence.output_dir:
            yield f"{process.name} evidence", process.runtime_evidence.output_dir
        yield f"{process.name} quarantine", process.quarantine.dir
        if process.partitions is not None:
            yield f"{process.name} chunks", process.partitions.chunk_dir
        profile = loaded.manifest.connections[process.sink.connection]
        if profile.type == "duckdb":  # the DuckDB file holds the state and audit tables too
            yield f"{process.name} sink database", posixpath.dirname(str(getattr(profile, "path", ""))) or "."
        elif profile.type == "files":
            yield f"{process.name} sink files", str(getattr(profile, "root", "."))


def _inside(base: str, path: str) -> str:
    """``path`` as the container sees it (relative ones under ``base``), normalised."""
    return posixpath.normpath(path if posixpath.isabs(path) else posixpath.join(base, path))


def _secret_source(target: str, spec: HandoffSpec) -> str:
    """Where the rendered file takes the variables from (a reference to a platform secret, never a value)."""
    return {
        "docker-compose": f"env_file {spec.container.env_file} beside docker-compose.yml",
        "k8s-cronjob": f"Kubernetes Secret {spec.container.secret_name} (one secretKeyRef per variable)",
        "airflow": "the Airflow workers' environment, or Airflow Connections through ${airflow:<conn_id>/<key>}",
        "dagster": "the code location's environment; ${dagster:<name>} references through dg.EnvVar",
    }[target]


def _render(builder: SchedulerHandoffBuilder, target: str, plan: _Plan) -> str:
    if target == "docker-compose":
        return builder.docker_compose(plan.specs)
    if target == "k8s-cronjob":
        return builder.kubernetes_cronjobs(plan.specs)
    if target == "airflow":
        return builder.airflow_manifest_dag(plan.base)
    return builder.dagster_definitions(plan.base)


def _markdown(report: OpsReport) -> str:
    data = report.to_dict()
    lines = [f"# Deploy profile: {data['target']}", "", f"Status: **{data['status']}**", ""]
    lines += markdown_table(
        ("field", "value"),
        [(k, data[k]) for k in ("manifest", "selector", "image", "schedule", "resume_policy", "secret_source")],
    )
    lines += ["", "## Files", "", *markdown_table(("file", "sha256"), list(data["files"].items()))]
    lines += ["", "## Environment (names only)", ""]
    lines += markdown_table(
        ("variable", "secret", "used by"),
        [(e["name"], e["secret"], ", ".join(e["used_by"])) for e in data["environment"]],
    )
    lines += ["", "## Durable storage", "", *[f"* `{p}`" for p in data["durable_paths"]]]
    if data["commands"]:
        lines += ["", "## Commands", "", *[f"* `{c}`" for c in data["commands"].values()]]
    for title, items in (("Blockers", data["blockers"]), ("Notes", data["notes"])):
        lines += ["", f"## {title}", "", *[f"* {item}" for item in items]] if items else []
    lines += [
        "",
        "## Runbook",
        "",
        "* Review the generated commands before deploying.",
        "* Create the secrets named above in the platform; no file here holds a value.",
        "* Keep the durable folders on storage that outlives a run, shared by every job of this deployment.",
        "* Attach this report to the release or environment-promotion evidence.",
        "",
    ]
    return "\n".join(lines)
