"""``dpone doctor``: is this machine ready to run dpone (and a given manifest)?"""

from __future__ import annotations

import importlib.util
import platform
import sys

import click

# Extras that are not connectors: extra -> (import names it needs, what it enables).
OTHER_EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "lineage": (("openlineage.client", "sqlglot"), "OpenLineage events, query-source lineage"),
    "observability": (("prometheus_client", "opentelemetry.sdk"), "Prometheus / OpenTelemetry metrics"),
    "airflow": (("airflow",), "Airflow provider"),
    "dagster": (("dagster",), "Dagster integration"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.command("doctor")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False),
    help="Also open every connection this manifest uses.",
)
@click.option("--registry", multiple=True, type=click.Path(dir_okay=False))
def doctor(manifest_path: str | None, registry: tuple[str, ...]) -> None:
    """Check Python, installed extras and (with --manifest) that each connection opens."""
    problems = 0
    ok = sys.version_info >= (3, 11)
    problems += not ok
    click.echo(
        f"{'ok ' if ok else 'BAD'} python {platform.python_version()}"
        + ("" if ok else "  -> install Python 3.11 or newer")
    )
    from dpone_core.connections.registry import connectors

    lines = [(spec.extra or spec.name, spec.missing_modules(), spec.summary) for spec in connectors().values()]
    lines += [
        (extra, [m for m in modules if not _installed(m)], purpose)
        for extra, (modules, purpose) in OTHER_EXTRAS.items()
    ]
    for extra, missing, purpose in lines:
        click.echo(
            f"{'-- ' if missing else 'ok '} {extra:<10} {purpose}"
            + (f"  -> pip install 'dpone[{extra}]' ({', '.join(missing)} missing)" if missing else "")
        )
    if manifest_path:
        problems += _check_connections(manifest_path, registry)
    sys.exit(1 if problems else 0)


def _check_connections(path: str, registry: tuple[str, ...]) -> int:
    from dpone_core.connections.registry import connector
    from dpone_core.connectors.endpoints import open_sink, open_source
    from dpone_core.errors import DponeError
    from dpone_core.manifest.loader import load_manifest

    try:
        loaded = load_manifest(path, registry)
    except DponeError as exc:
        click.echo(f"BAD manifest: {exc.info().one_line()}")
        return 1
    problems = 0
    for process in loaded.manifest.processes:
        for role, opener in (("sink", open_sink), ("source", open_source)):
            name = process.source.connection if role == "source" else process.sink.connection
            try:
                spec = connector(loaded.manifest.connections[name].type)
                handle = opener(loaded.manifest, process, loaded.base_dir)
                try:
                    note = spec.probe(handle) if spec.probe else None
                finally:
                    handle.close()
                click.echo(f"ok  {process.name}: {role} {name} opens" + (f" ({note})" if note else ""))
            except Exception as exc:  # noqa: BLE001 - doctor reports every failure and goes on
                problems += 1
                line = exc.info().one_line() if isinstance(exc, DponeError) else f"{type(exc).__name__}: {exc}"
                click.echo(f"BAD {process.name}: {role} {name}: {line}")
    return problems
