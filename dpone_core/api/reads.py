"""Read-only views of what loads committed: audit rows, state, target rows. They never open a writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from dpone_core.api.run import ManifestLike, load
from dpone_core.errors import ConfigurationError
from dpone_core.manifest.selectors import select, select_one
from dpone_core.spi.ports import Sink


def committed_loads(
    manifest: ManifestLike, selector: str, since: datetime | None = None, registry_paths: Sequence[str | Path] = ()
) -> list[dict[str, Any]]:
    """Committed ``__dpone__loads`` rows of one process, newest first (for sensors)."""
    from dpone_core.connectors.endpoints import open_sink

    loaded = load(manifest, registry_paths)
    process = select_one(loaded.manifest, selector)
    # Read-only: a sensor poll must never create the target or take a writer's lock.
    sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    try:
        rows: list[dict[str, Any]] = sink.loads(process.name, since)
        return rows
    finally:
        sink.close()


def read_target(manifest: ManifestLike, selector: str, registry_paths: Sequence[str | Path] = ()) -> Any:
    """The process's target table as a ``pyarrow.Table`` (for IO managers and notebooks)."""
    with _read_only_sink(manifest, selector, registry_paths) as sink:
        return sink.read_target()


def target_row_count(manifest: ManifestLike, selector: str, registry_paths: Sequence[str | Path] = ()) -> int | None:
    """Rows in the process's target now, or None when the table does not exist yet (read-only).

    >>> target_row_count("dags_examples/quickstart/orders.yaml", "orders")  # doctest: +SKIP
    3835
    """
    with _read_only_sink(manifest, selector, registry_paths) as sink:
        return sink.row_count()


def committed_files(manifest: ManifestLike, selector: str, registry_paths: Sequence[str | Path] = ()) -> list[str]:
    """URIs of the files of the process's committed table version, for readers outside dpone.

    A Parquet table on a folder or bucket is the set of files its newest commit object names;
    files in its folder that are not listed are a running load's or garbage. Empty before the
    first load; an error for a database target.
    """
    with _read_only_sink(manifest, selector, registry_paths) as sink:
        files = sink.committed_files()
    if files is None:
        raise ConfigurationError(
            f"process {selector} loads a database table, not files", step="connect", fix="query the table instead"
        )
    return files


@contextmanager
def _read_only_sink(manifest: ManifestLike, selector: str, registry_paths: Sequence[str | Path]) -> Iterator[Sink]:
    """The selected process's sink opened read-only, closed on exit."""
    from dpone_core.connectors.endpoints import open_sink

    loaded = load(manifest, registry_paths)
    process = select_one(loaded.manifest, selector)
    sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    try:
        yield sink
    finally:
        sink.close()


def _sinks_of(
    manifest: ManifestLike, selector: str | None, registry_paths: Sequence[str | Path]
) -> Iterator[tuple[set[str], Sink]]:
    """(process names, an open read-only sink) per distinct audit log of the selected processes."""
    from dpone_core.connectors.endpoints import open_sink

    loaded = load(manifest, registry_paths)
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for process in select(loaded.manifest, selector):
        # Processes on one connection share the audit and state tables, unless meta_schema differs.
        groups.setdefault((process.sink.connection, process.sink.options.meta_schema), []).append(process)
    for members in groups.values():
        sink = open_sink(loaded.manifest, members[0], loaded.base_dir, read_only=True)
        try:
            yield {p.name for p in members}, sink
        finally:
            sink.close()


def loads(
    manifest: ManifestLike,
    selector: str | None = None,
    since: datetime | None = None,
    registry_paths: Sequence[str | Path] = (),
) -> list[dict[str, Any]]:
    """Committed audit records of every selected process (all of them by default), newest first.

    Read-only: each sink connection is opened once, as a plan opens it (nothing created, no
    writer's lock taken), and its audit log is read for the processes that write to it.
    """
    found: list[dict[str, Any]] = []
    for names, sink in _sinks_of(manifest, selector, registry_paths):
        found += [row for row in sink.loads(None, since) if row.get("process") in names]
    return sorted(found, key=lambda r: str(r.get("finished_at")), reverse=True)


def states(
    manifest: ManifestLike, selector: str | None = None, registry_paths: Sequence[str | Path] = ()
) -> dict[str, dict[str, Any] | None]:
    """The committed state of every selected process (None before its first load), read-only."""
    from dpone_core.connectors.endpoints import open_sink

    result: dict[str, dict[str, Any] | None] = {}
    loaded = load(manifest, registry_paths)

    for process in select(loaded.manifest, selector):
        sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
        try:
            result[process.name] = sink.read_state(process.name)
        finally:
            sink.close()
    return result
