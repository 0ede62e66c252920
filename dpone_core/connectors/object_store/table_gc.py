"""Removing data files no reader can need: not in the newest version, nor in any version younger
than the grace period, and themselves older than it (a running load's files are young)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from dpone_core.connectors.object_store.store import TableStore
from dpone_core.connectors.object_store.table_log import TableLog, TableVersion

# Only this table's own data files: another table may live below its folder (schema "a", table
# "a.data"), and its files must never look like garbage here.
_OWN = re.compile(r"load=[^/]+/part-[^/]+\.parquet")


def collect_garbage(
    store: TableStore,
    log: TableLog,
    folder: str,
    grace: timedelta,
    head: TableVersion | None,
    older_layout: Iterable[str] = (),
) -> list[str]:
    """Delete unreferenced data files older than ``grace``; the load ids (or keys) they belonged to.

    ``older_layout`` names files of the table written before commit objects, also removed once
    no version needs them.
    """
    garbage = garbage_keys(store, log, folder, grace, head, older_layout)
    if garbage:
        store.delete(garbage)
    data = f"{folder}data/"
    return sorted(
        {key[len(data) :].split("/", 1)[0].removeprefix("load=") if key.startswith(data) else key for key in garbage}
    )


def garbage_keys(
    store: TableStore,
    log: TableLog,
    folder: str,
    grace: timedelta,
    head: TableVersion | None,
    older_layout: Iterable[str] = (),
) -> list[str]:
    """The keys :func:`collect_garbage` would delete, without deleting them (for recovery plans)."""
    cutoff = datetime.now(UTC) - grace
    needed = {f.key for f in head.files} if head else set()
    for version in log.history():
        finished = (version.audit or {}).get("finished_at")
        if finished is None or datetime.fromisoformat(str(finished)) < cutoff:
            break
        needed.update(f.key for f in version.files)
    data = f"{folder}data/"
    garbage = [
        info.key
        for info in store.listing(data)
        if _OWN.fullmatch(info.key[len(data) :]) and info.key not in needed and info.modified < cutoff
    ]
    first = log.version(1) if older_layout else None
    replaced_at = (first.audit or {}).get("finished_at") if first else None
    if replaced_at is not None and datetime.fromisoformat(str(replaced_at)) < cutoff:
        # The older layout was the table until version 1: its readers had the grace period too.
        garbage += [key for key in older_layout if key not in needed]
    return garbage
