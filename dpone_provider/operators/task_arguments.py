"""Airflow task arguments a dpone process implies: retries, pool, owner, writer slots, chunk keys.

The manifest says how a process retries, which pool it shares and who owns it; a task built from
it takes those values unless the task or the DAG's ``default_args`` set them. A sink that takes
one writer at a time (a DuckDB file) also limits the task to one DAG run at a time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dpone_core.manifest.loader import LoadedManifest
    from dpone_core.manifest.process import Process

MANIFEST_DEFAULTED = (
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "pool",
    "owner",
    "max_active_tis_per_dag",
)
"""Task arguments the manifest fills in unless the task or the DAG's default_args set them."""


def writer_lane(loaded: LoadedManifest, process: Process, placeholders: frozenset[str] = frozenset()) -> str | None:
    """What one writer holds when the process's sink takes one writer at a time (a DuckDB file), else None.

    The same lane ``dpone orchestrate`` serialises on. A placeholder connection (an Airflow
    Connection missing at parse time) is DuckDB-shaped only to validate, so it has no lane.
    """
    from dpone_core.spi import connector

    if process.sink.connection in placeholders:
        return None
    profile = loaded.manifest.connections.get(process.sink.connection)
    if profile is None:
        return None
    try:
        spec = connector(profile.type)
    except Exception:  # noqa: BLE001 - an unknown type fails the run with its own message
        return None
    if not spec.capabilities.single_writer:
        return None
    lane = spec.writer_lane(profile, loaded.base_dir) if spec.writer_lane else None
    return lane or f"{profile.type}:{process.sink.connection}"


def manifest_task_kwargs(
    process: Process,
    *,
    use_pool: bool = True,
    loaded: LoadedManifest | None = None,
    placeholders: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Airflow task arguments derived from a process: retries, backoff, pool, owner and writer slots.

    With ``loaded``, a single-writer sink (a DuckDB file) adds ``max_active_tis_per_dag=1``: the
    scheduler then runs this task in one DAG run at a time, since a second writer would only fail
    on the file lock.

    >>> from dpone_core.manifest.process import Retry
    >>> # manifest_task_kwargs(process)  -> {'retries': 2, 'retry_delay': timedelta(seconds=5), ...}
    """
    kwargs: dict[str, Any] = {}
    retry = process.retry
    if retry.attempts:
        kwargs["retries"] = retry.attempts
        kwargs["retry_delay"] = timedelta(seconds=retry.backoff_seconds)
        if retry.backoff == "exponential":
            kwargs["retry_exponential_backoff"] = 2.0
            kwargs["max_retry_delay"] = timedelta(seconds=retry.backoff_seconds * 32)
    if use_pool and process.orchestration.concurrency_key:
        kwargs["pool"] = process.orchestration.concurrency_key
    if process.orchestration.owners:
        kwargs["owner"] = ",".join(process.orchestration.owners)
    if loaded is not None and writer_lane(loaded, process, placeholders):
        kwargs["max_active_tis_per_dag"] = 1
    return kwargs


def chunk_keys(chunks: Any) -> list[str] | None:
    """The partition keys of ``chunks`` as rendered: a list, or text (a JSON list, or keys split on commas).

    >>> chunk_keys("eu, us"), chunk_keys('["eu", "us"]'), chunk_keys(["01"]), chunk_keys(None)
    (['eu', 'us'], ['eu', 'us'], ['01'], None)
    """
    if chunks is None:
        return None
    if isinstance(chunks, str):
        text = chunks.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text.replace("'", '"'))
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(c) for c in parsed]
        return [part.strip() for part in text.split(",") if part.strip()]
    return [str(c) for c in chunks]
