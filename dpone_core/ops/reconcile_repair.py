"""``dpone ops reconcile --repair --yes``: the differing rows put right through the runtime's own merge.

The actions of a :class:`~dpone_core.reconcile.ReconcileResult` become at most two merge loads of a
derived process (upserts read from the source, deletes as hard delete markers), each with its own
audit row and state, run by :func:`dpone_core.api.run`: the repair is a load like any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.errors import ConfigurationError
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.model import Predicate, ReadRequest, iter_batches
from dpone_core.reconcile import DELETE, INSERT, UPDATE, ReconcileResult

REPAIR_DELETE = "dpone_reconcile_delete"
"""The repair file's hard delete marker column (never stored in the target)."""


def repair(loaded: LoadedManifest, process: Process, result: ReconcileResult, workdir: Path) -> list[dict[str, Any]]:
    """Apply the result's actions to the target through the runtime's own merge, one load each.

    Upserts are the source's rows of the differing keys, read through the source connector and
    cast to the target's types; deletes are the keys with a hard delete marker. Each is a merge
    load of a derived process ``<name>.reconcile_repair`` (its own audit row and state, the
    process's data contract for upserts, schema changes refused), run by :func:`dpone_core.run`.
    """
    from dpone_core.api import run
    from dpone_core.connectors.endpoints import open_sink

    if not result.actions_complete:
        raise ConfigurationError(
            f"more differences than --max-repair-rows ({len(result.actions)}); a row repair is not the tool",
            step="reconcile",
            fix="reload the table (full_refresh), or raise --max-repair-rows",
        )
    sink = open_sink(loaded.manifest, process, loaded.base_dir, read_only=True)
    try:
        current = sink.target_schema()
    finally:
        sink.close()
    if current is None:
        raise ConfigurationError(f"target of {process.name} does not exist", step="reconcile", fix="run the load first")
    target = current.arrow_schema()
    upserts = {_key_tuple(a.key, result.key) for a in result.actions if a.action in (INSERT, UPDATE)}
    deletes = [_key_tuple(a.key, result.key) for a in result.actions if a.action == DELETE]
    workdir.mkdir(parents=True, exist_ok=True)
    loads = []
    if upserts:
        table = _source_rows(loaded, process, result, upserts).cast(_subset(target, [*result.key, *result.columns]))
        loads.append(_repair_load(run, loaded, process, result, workdir, "upsert", table))
    if deletes:
        keys = _subset(target, list(result.key))
        columns = {k: pa.array([d[i] for d in deletes]).cast(keys.field(k).type) for i, k in enumerate(result.key)}
        table = pa.table({**columns, REPAIR_DELETE: pa.array([True] * len(deletes))})
        loads.append(_repair_load(run, loaded, process, result, workdir, "delete", table))
    return loads


def _key_tuple(key: Mapping[str, str | None], names: Sequence[str]) -> tuple[Any, ...]:
    """A key's normalised texts as values (integers back to int: the key types repair supports)."""
    return tuple(int(v) if v is not None and v.lstrip("-").isdigit() else v for v in (key[k] for k in names))


def _subset(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    missing = [n for n in names if schema.get_field_index(n) < 0]
    if missing:
        raise ConfigurationError(f"the target has no column {', '.join(missing)}", step="reconcile")
    return pa.schema([schema.field(n).with_nullable(True) for n in names])


def _source_rows(
    loaded: LoadedManifest, process: Process, result: ReconcileResult, keys: set[tuple[Any, ...]]
) -> pa.Table:
    """The source's rows of ``keys``: ranged reads by the first key column, filtered to the keys."""
    from dpone_core.connectors.endpoints import open_source
    from dpone_core.reconcile.normalize import value_text
    from dpone_core.reconcile.types import arrow_type

    source = open_source(loaded.manifest, process, loaded.base_dir)
    columns = (*result.key, *result.columns)
    kept: list[pa.RecordBatch] = []
    try:
        for low, high in _clusters(sorted(k[0] for k in keys)):
            predicates = (
                (Predicate(result.key[0], ">=", low), Predicate(result.key[0], "<=", high)) if low is not None else ()
            )
            for batch in iter_batches(source.read(ReadRequest(columns=columns, predicates=predicates))):
                types = [arrow_type(batch.schema.field(k).type) for k in result.key]
                rows = zip(*(batch.column(k).to_pylist() for k in result.key), strict=True)
                wanted = [
                    _key_tuple(
                        {k: value_text(v, t) for k, v, t in zip(result.key, row, types, strict=True)}, result.key
                    )
                    in keys
                    for row in rows
                ]
                kept.append(batch.filter(pa.array(wanted, pa.bool_())))
    finally:
        source.close()
    return pa.Table.from_batches(kept) if kept else pa.table({})


def _clusters(firsts: list[Any], gap: int = 100_000) -> Iterator[tuple[Any, Any]]:
    """Ranges of integer keys no more than ``gap`` apart (one source read each); text keys: one full read."""
    if not firsts or not all(isinstance(v, int) for v in firsts):
        yield None, None
        return
    low = high = firsts[0]
    for value in firsts[1:]:
        if value - high > gap:
            yield low, high
            low = value
        high = value
    yield low, high


def _repair_load(
    run: Any,
    loaded: LoadedManifest,
    process: Process,
    result: ReconcileResult,
    workdir: Path,
    what: str,
    table: pa.Table,
) -> dict[str, Any]:
    """One merge load of ``table`` into the process's target (see :func:`repair`)."""
    import pyarrow.parquet as pq

    from dpone_core.connectors.files.profile import FilesProfile
    from dpone_core.manifest.contract import SchemaEvolution
    from dpone_core.manifest.process import DeleteMarker, Source

    pq.write_table(table, workdir / f"{what}.parquet")
    connection = "dpone_reconcile_repair"
    sink = process.sink.model_copy(
        update={
            "strategy": "merge",
            "primary_key": list(result.key),
            "delete_marker": DeleteMarker(column=REPAIR_DELETE, mode="hard") if what == "delete" else None,
        }
    )
    derived = process.model_copy(
        update={
            "name": f"{process.name}.reconcile_repair",
            "selector": None,
            "depends_on": [],
            "partitions": None,
            "source": Source(connection=connection, path=f"{what}.parquet", format="parquet"),
            "sink": sink,
            # Deleted keys carry no values for a contract to check; nothing may change the target's schema.
            "schema_contract": process.schema_contract if what == "upsert" else None,
            "schema_evolution": SchemaEvolution(new_columns="ignore", removed_columns="keep", type_changes="fail"),
        }
    )
    profiles = {**loaded.manifest.connections, connection: FilesProfile(type="files", root=str(workdir.resolve()))}
    manifest = loaded.manifest.model_copy(update={"connections": profiles, "processes": [derived]})
    report = run(LoadedManifest(manifest, loaded.path, loaded.registry_paths, loaded.sha256), derived.name)
    outcome = {
        "load": what,
        "rows": table.num_rows,
        "passed": report.passed,
        "status": report.status,
        "inserted": report.result.inserted_rows,
        "updated": report.result.updated_rows,
        "deleted": report.result.deleted_rows,
        "errors": [e.message for e in report.result.errors],
    }
    return outcome
