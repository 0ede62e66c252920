"""Render a :class:`LoadPlan` into SQL statements for one dialect.

Every strategy is a short list of set-based statements run inside the finalize transaction; each
statement's row count feeds one report counter, so inserted/updated/deleted are exact. Updates
touch only rows whose values really changed (``IS DISTINCT FROM``), which makes re-runs report 0.
"""

from __future__ import annotations

from collections.abc import Callable

from dpone_core.strategies.dialect import SqlDialect, Statement
from dpone_core.strategies.plan import LoadPlan

T, S = "dpone_t", "dpone_s"
_GRAINS = frozenset({"hour", "day", "week", "month", "year"})


class _Sql:
    """Small helpers bound to one plan and dialect."""

    def __init__(self, plan: LoadPlan, dialect: SqlDialect) -> None:
        self.plan, self.d = plan, dialect
        self.target = dialect.table(plan.target)
        self.staging = dialect.table(plan.staging)

    def staged(self, column: str) -> str:
        """A staged column, cast to the target's own type when the plan says so (text into an enum)."""
        ref = f"{S}.{self.d.quote(column)}"
        cast = self.plan.casts.get(column)
        # The type SQL comes from the target's catalog (format_type), never from a manifest or a row.
        return f"CAST({ref} AS {cast})" if cast else ref

    def staged_list(self, columns: tuple[str, ...]) -> str:
        if not self.plan.casts:
            return self.d.column_list(columns, S)
        return ", ".join(self.staged(c) for c in columns)

    def key_match(self) -> str:
        return " AND ".join(f"{T}.{self.d.quote(k)} = {self.staged(k)}" for k in self.plan.primary_key)

    def changed(self, columns: tuple[str, ...]) -> str:
        return " OR ".join(f"{T}.{self.d.quote(c)} IS DISTINCT FROM {self.staged(c)}" for c in columns)

    def marked(self) -> str:
        marker = self.plan.delete_marker
        return self.d.is_true(f"{S}.{self.d.quote(marker.column)}") if marker else "FALSE"

    def insert_all(self, where: str | None = None) -> Statement:
        cols = self.plan.target_columns
        sql = (
            f"INSERT INTO {self.target} ({self.d.column_list(cols)}) "
            f"SELECT {self.staged_list(cols)} FROM {self.staging} AS {S}"
        )
        if where:
            sql += f" WHERE {where}"
        return Statement("insert", sql, (), "inserted")

    def not_in_target(self, extra: str = "") -> str:
        return f"NOT EXISTS (SELECT 1 FROM {self.target} AS {T} WHERE {self.key_match()}{extra})"

    def update_changed(self, where_extra: str, name: str, counts_as: str) -> Statement | None:
        cols = self.plan.compare_columns
        if not cols:
            return None
        assignments = ", ".join(f"{self.d.quote(c)} = {self.staged(c)}" for c in cols)
        sql = (
            f"UPDATE {self.target} AS {T} SET {assignments} FROM {self.staging} AS {S} "
            f"WHERE {self.key_match()} AND ({self.changed(cols)}){where_extra}"
        )
        return Statement(name, sql, (), counts_as)


def _full_refresh(q: _Sql) -> list[Statement]:
    if q.d.truncate_full_refresh:
        # TRUNCATE is transactional and writes no per-row WAL or dead tuples; the lock is the one
        # TRUNCATE takes anyway, held from before the count so the deleted count is exact.
        return [
            Statement("lock_target", f"LOCK TABLE {q.target} IN ACCESS EXCLUSIVE MODE"),
            Statement("delete_all", f"SELECT count(*) FROM {q.target}", counts=("deleted",)),
            Statement("truncate", f"TRUNCATE {q.target}"),
            q.insert_all(),
        ]
    return [Statement("delete_all", f"DELETE FROM {q.target}", (), "deleted"), q.insert_all()]


def _append(q: _Sql) -> list[Statement]:
    return [q.insert_all()]


def _incremental(q: _Sql) -> list[Statement]:
    # With a key, rows re-read by the lookback window are skipped instead of duplicated.
    return [q.insert_all(q.not_in_target() if q.plan.primary_key else None)]


def _upsert(q: _Sql, where: str) -> Statement:
    """One ``INSERT ... ON CONFLICT``: changed rows are updated, new rows inserted, both counted.

    ``xmax = 0`` in RETURNING tells an inserted row from an updated one; rows whose values did not
    change are skipped by the DO UPDATE's WHERE and returned by neither.
    """
    d, plan = q.d, q.plan
    cols = plan.target_columns
    if plan.compare_columns:
        sets = ", ".join(f"{d.quote(c)} = EXCLUDED.{d.quote(c)}" for c in plan.compare_columns)
        changed = " OR ".join(f"{T}.{d.quote(c)} IS DISTINCT FROM EXCLUDED.{d.quote(c)}" for c in plan.compare_columns)
        action = f"DO UPDATE SET {sets} WHERE {changed}"
    else:
        action = "DO NOTHING"
    sql = (
        f"WITH dpone_m AS (INSERT INTO {q.target} AS {T} ({d.column_list(cols)}) "
        f"SELECT {q.staged_list(cols)} FROM {q.staging} AS {S} WHERE {where} "
        f"ON CONFLICT ({d.column_list(plan.primary_key)}) {action} RETURNING ({T}.xmax = 0) AS dpone_new) "
        "SELECT count(*) FILTER (WHERE dpone_new), count(*) FILTER (WHERE NOT dpone_new) FROM dpone_m"
    )
    return Statement("upsert", sql, (), None, ("inserted", "updated"))


def _merge(q: _Sql) -> list[Statement]:
    statements: list[Statement] = []
    marker = q.plan.delete_marker
    if q.d.upsert_on_conflict and q.plan.primary_key and (marker is None or marker.mode == "hard"):
        if marker:
            statements.append(
                Statement(
                    "delete_marked",
                    f"DELETE FROM {q.target} AS {T} WHERE EXISTS "
                    f"(SELECT 1 FROM {q.staging} AS {S} WHERE {q.key_match()} AND {q.marked()})",
                    (),
                    "deleted",
                )
            )
        return [*statements, _upsert(q, f"NOT ({q.marked()})" if marker else "TRUE")]
    if marker and marker.mode == "hard":
        statements.append(
            Statement(
                "delete_marked",
                f"DELETE FROM {q.target} AS {T} WHERE EXISTS "
                f"(SELECT 1 FROM {q.staging} AS {S} WHERE {q.key_match()} AND {q.marked()})",
                (),
                "deleted",
            )
        )
    elif marker:
        soft = q.update_changed(f" AND {q.marked()}", "soft_delete", "deleted")
        if soft:
            statements.append(soft)
    update = q.update_changed(f" AND NOT ({q.marked()})", "update", "updated")
    if update:
        statements.append(update)
    insert_where = q.not_in_target()
    if marker and marker.mode == "hard":
        insert_where += f" AND NOT ({q.marked()})"
    statements.append(q.insert_all(insert_where))
    return statements


def _snapshot_diff(q: _Sql) -> list[Statement]:
    vanished = Statement(
        "delete_missing",
        f"DELETE FROM {q.target} AS {T} WHERE NOT EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {q.key_match()})",
        (),
        "deleted",
    )
    return [vanished, *_merge(q)]


def _partition_replace(q: _Sql) -> list[Statement]:
    spec = q.plan.partition
    if spec is None:
        raise ValueError("partition_replace needs a partition column")
    col = q.d.quote(spec.column)
    t_expr, s_expr = f"{T}.{col}", q.staged(spec.column)
    if spec.grain:
        if spec.grain not in _GRAINS:
            raise ValueError(f"unknown grain {spec.grain}")
        t_expr, s_expr = q.d.date_trunc(spec.grain, t_expr), q.d.date_trunc(spec.grain, s_expr)
    delete = Statement(
        "delete_partitions",
        f"DELETE FROM {q.target} AS {T} WHERE EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {s_expr} = {t_expr})",
        (),
        "deleted",
    )
    # Rows without a partition value form a partition of their own. `=` never matches NULL, and
    # IS NOT DISTINCT FROM in the statement above would cost it its index and hash join.
    delete_null = Statement(
        "delete_null_partition",
        f"DELETE FROM {q.target} AS {T} WHERE {t_expr} IS NULL "
        f"AND EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {s_expr} IS NULL)",
        (),
        "deleted",
    )
    return [delete, delete_null, q.insert_all()]


def _scd2(q: _Sql) -> list[Statement]:
    plan, d = q.plan, q.d
    spec = plan.scd2
    if spec is None or plan.load_time is None:
        raise ValueError("scd2 needs history column names and a load time")
    current = d.is_true(f"{T}.{d.quote(spec.is_current)}")
    closing = f"{d.quote(spec.valid_to)} = {d.placeholder}, {d.quote(spec.is_current)} = FALSE"
    statements: list[Statement] = []
    if plan.delete_marker:
        statements.append(
            Statement(
                "close_deleted",
                f"UPDATE {q.target} AS {T} SET {closing} FROM {q.staging} AS {S} "
                f"WHERE {q.key_match()} AND {current} AND {q.marked()}",
                (plan.load_time,),
                "deleted",
            )
        )
    if plan.compare_columns:
        statements.append(
            Statement(
                "close_changed",
                f"UPDATE {q.target} AS {T} SET {closing} FROM {q.staging} AS {S} "
                f"WHERE {q.key_match()} AND {current} AND NOT ({q.marked()}) "
                f"AND ({q.changed(plan.compare_columns)})",
                (plan.load_time,),
                "updated",
            )
        )
    cols = plan.target_columns
    history = (spec.valid_from, spec.valid_to, spec.is_current)
    statements.append(
        Statement(
            "insert_versions",
            f"INSERT INTO {q.target} ({d.column_list(cols)}, {d.column_list(history)}) "
            f"SELECT {q.staged_list(cols)}, {d.placeholder}, NULL, TRUE FROM {q.staging} AS {S} "
            f"WHERE NOT ({q.marked()}) AND {q.not_in_target(f' AND {current}')}",
            (plan.load_time,),
            "inserted",
        )
    )
    return statements


_RENDERERS: dict[str, Callable[[_Sql], list[Statement]]] = {
    "full_refresh": _full_refresh,
    "append": _append,
    "incremental": _incremental,
    "merge": _merge,
    "snapshot_diff": _snapshot_diff,
    "partition_replace": _partition_replace,
    "scd2": _scd2,
}


def _first_load(q: _Sql) -> list[Statement]:
    """Into a table this load created: every key is new, so merge-like strategies are plain inserts."""
    plan = q.plan
    if plan.strategy == "scd2" and plan.scd2 is not None:
        d, spec = q.d, plan.scd2
        cols = plan.target_columns
        history = (spec.valid_from, spec.valid_to, spec.is_current)
        return [
            Statement(
                "insert_versions",
                f"INSERT INTO {q.target} ({d.column_list(cols)}, {d.column_list(history)}) "
                f"SELECT {q.staged_list(cols)}, {d.placeholder}, NULL, TRUE FROM {q.staging} AS {S} "
                f"WHERE NOT ({q.marked()})",
                (plan.load_time,),
                "inserted",
            )
        ]
    marker = plan.delete_marker
    return [q.insert_all(f"NOT ({q.marked()})" if marker and marker.mode == "hard" else None)]


def render_plan(plan: LoadPlan, dialect: SqlDialect) -> list[Statement]:
    """Render ``plan`` for ``dialect``; statements run in order inside one transaction.

    >>> from dpone_core.model import TableRef
    >>> p = LoadPlan("append", TableRef("a", "t"), TableRef("s", "x"), ("id",))
    >>> render_plan(p, SqlDialect())[0].sql
    'INSERT INTO "a"."t" ("id") SELECT dpone_s."id" FROM "s"."x" AS dpone_s'
    """
    try:
        renderer = _RENDERERS[plan.strategy]
    except KeyError:
        raise ValueError(f"strategy {plan.strategy} has no SQL rendering") from None
    if plan.target_empty and plan.strategy in {"incremental", "merge", "snapshot_diff", "scd2"}:
        return _first_load(_Sql(plan, dialect))
    return renderer(_Sql(plan, dialect))
