"""``dpone ops deploy-render``: a thin adapter over :mod:`dpone_core.ops.deploy_render`."""

from __future__ import annotations

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.cli.options import registry_option
from dpone_core.errors import DponeError
from dpone_core.ops.artifacts import OpsReport

__all__ = ["ops"]


@ops.command("deploy-render")
@click.option("--target", required=True, help="docker-compose | k8s-cronjob | airflow | dagster.")
@click.option("--manifest", "manifest_path", required=True, type=click.Path(dir_okay=False), help="Manifest file.")
@click.option("--selector", "-s", help="Processes to deploy (name, tag:x, +name, name+); default: all.")
@registry_option
@click.option("--image", default="dpone:latest", show_default=True, help="Container image (compose, k8s).")
@click.option("--schedule", default="0 2 * * *", show_default=True, help="Five-field cron expression.")
@click.option(
    "--resume-policy",
    default="resume",
    show_default=True,
    help="resume: a re-triggered failed run id runs again; fail: it stops for review (compose, k8s).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Where the file and deploy_render.json/.md go (default .dpone/deploy/<name>).",
)
@FORMAT_OPTION
def deploy_render(
    target: str,
    manifest_path: str,
    selector: str | None,
    registry: tuple[str, ...],
    image: str,
    schedule: str,
    resume_policy: str,
    output_dir: str | None,
    output_format: str,
) -> None:
    """Render a scheduler file for a manifest; secrets stay references. Exit 0 rendered, 1 blocked, 2 bad input."""
    from dpone_core.ops.deploy_render import DeployRequest, render_deploy

    request = DeployRequest(
        target=target,
        manifest_path=manifest_path,
        selector=selector,
        image=image,
        schedule=schedule,
        output_dir=output_dir,
        registry_paths=registry,
        resume_policy=resume_policy,
    )
    try:
        rendered = render_deploy(request)
    except DponeError as exc:
        bad_input(exc)
    finish(rendered.report, output_format, rendered.written, _text_lines)


def _text_lines(report: OpsReport) -> list[str]:
    """The text summary: the rendered file, the processes, the variable names and the volumes."""
    data = report.payload
    lines = [f"rendered {data['target']} {data['path']} for {', '.join(data['processes'])}"]
    lines += [f"env {e['name']}{' (secret)' if e['secret'] else ''}" for e in data["environment"]]
    lines += [f"volume {path}" for path in data["durable_paths"]]
    lines += [f"note {note}" for note in data["notes"]]
    return lines
