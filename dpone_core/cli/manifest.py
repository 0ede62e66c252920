"""``dpone manifest validate | render | schema``."""

from __future__ import annotations

import sys

import click

from dpone_core.cli.options import registry_option
from dpone_core.errors import ManifestError


@click.group("manifest")
def manifest() -> None:
    """Validate, render and describe manifests."""


@manifest.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@registry_option
def validate_command(path: str, registry: tuple[str, ...]) -> None:
    """Check PATH strictly; print every problem, one per line (exit 2 when invalid)."""
    from dpone_core.manifest.loader import load_manifest

    try:
        loaded = load_manifest(path, registry)
    except ManifestError as exc:
        for line in exc.details or [exc.info().one_line()]:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)
    names = ", ".join(p.name for p in loaded.manifest.processes)
    count = len(loaded.manifest.processes)
    noun = "process" if count == 1 else "processes"
    click.echo(f"OK: {path} ({count} {noun}: {names}; sha256 {loaded.sha256[:12]})")


@manifest.command("render")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--selector", "-s", help="Only the processes this selector picks.")
@click.option(
    "--all", "include_defaults", is_flag=True, help="Include every default value (the full effective config)."
)
@registry_option
def render_command(path: str, selector: str | None, include_defaults: bool, registry: tuple[str, ...]) -> None:
    """Print the merged manifest (registry + defaults applied, secrets masked)."""
    from dpone_core.manifest.loader import load_manifest
    from dpone_core.manifest.render import render_manifest

    try:
        click.echo(render_manifest(load_manifest(path, registry), selector, include_defaults), nl=False)
    except ManifestError as exc:
        click.echo(f"error: {exc.info().one_line()}", err=True)
        sys.exit(2)


@manifest.command("schema")
def schema_command() -> None:
    """Print the manifest JSON Schema (point your editor's YAML plugin at it)."""
    from dpone_core.manifest.schema import manifest_json_schema

    click.echo(manifest_json_schema())
