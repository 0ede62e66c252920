"""``dpone ops catalog-publish`` and ``dpone ops lineage-export``: thin adapters over
:mod:`dpone_core.ops.catalog_publish` and :mod:`dpone_core.ops.lineage_export` (registered on the
``ops`` group when imported)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.cli.options import registry_option
from dpone_core.errors import ConfigurationError, DponeError

__all__ = ["ops"]


def _run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options both commands read a registered run with."""
    options = [
        click.option(
            "--run-registry-entry",
            "entry",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The <run_id>__run_registry.json `dpone ops run-registry` wrote.",
        ),
        click.option(
            "--manifest",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The run's manifest: datasets, contract and descriptions come from its process.",
        ),
        click.option("--selector", "-s", help="The process (default: the one the entry records)."),
        registry_option,
        click.option(
            "--namespace",
            help="OpenLineage job namespace (default: the manifest's, else OPENLINEAGE_NAMESPACE, else dpone).",
        ),
        click.option(
            "--input",
            "inputs",
            multiple=True,
            metavar="KIND=NAME",
            help="A dataset read (postgres=public.orders; repeatable).",
        ),
        click.option(
            "--output",
            "outputs",
            multiple=True,
            metavar="KIND=NAME",
            help="A dataset written (mssql=landing.orders; repeatable).",
        ),
        click.option(
            "--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Write here."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _selection(values: dict[str, Any]) -> Any:
    from dpone_core.ops.lineage_export import RunSelection

    return RunSelection(
        values["entry"],
        values["manifest"],
        values["selector"],
        tuple(values["registry"]),
        values["namespace"],
        tuple(values["inputs"]),
        tuple(values["outputs"]),
    )


def _lineage_extra() -> None:
    """A one-line error when openlineage-python is not installed."""
    try:
        import openlineage.client  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "catalog and lineage exports need openlineage-python and sqlglot", fix="pip install 'dpone[lineage]'"
        ) from None


@ops.command("catalog-publish")
@_run_options
@click.option(
    "--freshness-warn-hours",
    type=click.IntRange(0),
    default=24,
    show_default=True,
    help="dbt warn_after in hours (0: none).",
)
@click.option(
    "--freshness-error-hours",
    type=click.IntRange(0),
    default=48,
    show_default=True,
    help="dbt error_after in hours (0: none).",
)
@FORMAT_OPTION
def catalog_publish(freshness_warn_hours: int, freshness_error_hours: int, output_format: str, **values: Any) -> None:
    """Write OpenLineage, dbt sources and DataHub payloads for a registered run; exit 1 when the run
    was red or a registered artifact changed, 2 on bad input."""
    try:
        _lineage_extra()
        from dpone_core.ops import catalog_publish as module
        from dpone_core.ops.dbt_sources import Freshness

        freshness = Freshness(freshness_warn_hours or None, freshness_error_hours or None)
        report, written = module.catalog_publish(
            _selection(values), values["output_dir"], module.CatalogOptions(freshness)
        )
    except DponeError as exc:
        bad_input(exc)
    from dpone_core.ops.lineage_export import text_lines

    finish(report, output_format, written, text_lines)


@ops.command("lineage-export")
@_run_options
@click.option("--emit", is_flag=True, help="Also send the events through openlineage-python's configured transport.")
@FORMAT_OPTION
def lineage_export(emit: bool, output_format: str, **values: Any) -> None:
    """Write a registered run's OpenLineage START and final event (openlineage_events.json); exit 1
    when the run was red or --emit could not send, 2 on bad input or --emit without a transport."""
    try:
        _lineage_extra()
        from dpone_core.ops import lineage_export as module

        report, written = module.lineage_export(_selection(values), values["output_dir"], emit)
    except DponeError as exc:
        bad_input(exc)
    finish(report, output_format, written, module.text_lines)
