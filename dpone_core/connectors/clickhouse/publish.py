"""Making a load visible on ClickHouse, one step per strategy, each safe to run again.

* ``swap`` (full_refresh, merge, snapshot_diff, scd2, and partition_replace on a table not
  partitioned by its slices): ``EXCHANGE TABLES target AND built``, one atomic rename on an Atomic
  database. Done when the target's UUID is no longer the one recorded before the publish.
* ``rename`` (the load creates the table): ``RENAME TABLE built TO target``; done when the target exists.
* ``partitions`` (partition_replace on a table partitioned by its slices): ``REPLACE PARTITION``
  per partition of the built table; each is atomic, and replacing a partition again with the same
  parts changes nothing.
* ``insert`` (append, incremental): ``INSERT ... SELECT`` from staging in chunks of sequence
  numbers, each squashed into one block per partition with the token ``dpone:<load>:<chunk>``: a
  chunk sent again is dropped by the target's deduplication window.

A run that finds a publish it did not finish (``recovery.py``) calls :func:`publish` with
``redo=True``: the built table is made again from the journal's statements first.
"""

from __future__ import annotations

from typing import Any

from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.profile import SettingValue
from dpone_core.connectors.clickhouse.sql import literal, quote, table
from dpone_core.model import SEQ_COLUMN, TableRef


def ref(value: list[str] | tuple[str, str]) -> TableRef:
    """A table reference kept in the journal as ``[database, name]``."""
    return TableRef(value[0], value[1])


def table_identity(client: ClickHouseClient, target: TableRef) -> tuple[str, str]:
    """The table's UUID and engine (both '' when it does not exist)."""
    rows = client.rows(
        "SELECT toString(uuid), engine FROM system.tables WHERE database = {d:String} AND name = {n:String}",
        {"d": target.schema, "n": target.name},
    )
    return (str(rows[0][0]), str(rows[0][1])) if rows else ("", "")


def table_uuid(client: ClickHouseClient, target: TableRef) -> str:
    """The table's UUID ('' when it does not exist)."""
    return table_identity(client, target)[0]


def build(client: ClickHouseClient, plan: dict[str, Any]) -> None:
    """(Re)create the built table from the plan's statements."""
    built = table(ref(plan["built"]))
    if not plan.get("adopted"):  # an adopted staging table is the new version itself: never dropped here
        client.command(f"DROP TABLE IF EXISTS {built}", what=f"dropping {built}")
    for step in plan["build"]:
        client.command(step["sql"], step.get("params") or {}, what=f"building {built}")


def published(client: ClickHouseClient, plan: dict[str, Any]) -> bool:
    """The plan's swap or rename already happened."""
    kind = plan["kind"]
    current = table_uuid(client, ref(plan["target"]))
    if kind == "swap":
        return bool(current) and current != plan["target_uuid"]
    if kind == "rename":
        return bool(current)
    return False


def publish(client: ClickHouseClient, plan: dict[str, Any], *, redo: bool = False) -> None:
    """Run the plan's publish step (idempotent; ``redo`` rebuilds what a killed run had built)."""
    kind = plan["kind"]
    if kind == "none":
        return
    target = table(ref(plan["target"]))
    if kind in ("swap", "rename"):
        if published(client, plan):
            return
        if redo:
            build(client, plan)
        built = table(ref(plan["built"]))
        if kind == "swap":
            client.command(f"EXCHANGE TABLES {target} AND {built}", what=f"publishing into {target}")
        else:
            client.command(f"RENAME TABLE {built} TO {target}", what=f"publishing {target}")
        return
    if kind == "partitions":
        if redo:
            build(client, plan)
        _replace_partitions(client, target, ref(plan["built"]))
        return
    _insert(client, target, plan)


def _replace_partitions(client: ClickHouseClient, target: str, built: TableRef) -> None:
    rows = client.rows(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = {d:String} AND table = {n:String} AND active",
        {"d": built.schema, "n": built.name},
    )
    for (partition_id,) in rows:
        client.command(
            f"ALTER TABLE {target} REPLACE PARTITION ID {literal(str(partition_id))} FROM {table(built)}",
            what=f"replacing partition {partition_id} of {target}",
        )


def _insert(client: ClickHouseClient, target: str, plan: dict[str, Any]) -> None:
    for statement in plan.get("ddl", []):
        client.command(statement, what=f"changing {target}")
    spec = plan["insert"]
    columns = ", ".join(quote(c) for c in spec["columns"])
    staging, seq = table(ref(plan["staging"])), quote(SEQ_COLUMN)
    size = int(spec["chunk_rows"])
    where = f" AND ({spec['where']})" if spec.get("where") else ""
    for number in range(int(spec["chunks"])):
        # One block per chunk (and partition): the squash thresholds exceed the chunk, so a resend
        # forms the same blocks and its token matches the first send's.
        settings: dict[str, SettingValue] = {
            "insert_deduplication_token": f"dpone:{plan['load_id']}:{number}",
            "insert_deduplicate": 1,
            "max_insert_threads": 1,
            "min_insert_block_size_rows": size + 1,
            "min_insert_block_size_bytes": 1 << 40,
            "async_insert": 0,
            "transform_null_in": 1,
        }
        sql = (
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging} AS dpone_s "
            f"WHERE {seq} >= {{lo:Int64}} AND {seq} < {{hi:Int64}}{where}"
        )
        client.command(
            sql, {"lo": number * size, "hi": (number + 1) * size}, settings=settings, what=f"publishing into {target}"
        )
