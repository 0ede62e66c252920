"""Render a :class:`LoadPlan` into SQL statements: one overridable method per strategy and per statement.

Every strategy is a short list of set-based statements run inside the finalize transaction; each
statement's row count feeds one report counter, so inserted/updated/deleted are exact. Updates
touch only rows whose values really changed (``IS DISTINCT FROM``), which makes re-runs report 0.

:class:`StrategyRenderer` writes the SQL DuckDB and Postgres share. A system whose SQL differs
subclasses it and overrides the statement it writes differently (``update_from`` for SQL Server's
``UPDATE ... FROM`` without an alias, ``delete_where`` for ``DELETE t FROM``, ``distinct`` where
``IS DISTINCT FROM`` is missing) or a whole strategy (Postgres' ``INSERT ... ON CONFLICT`` merge,
see ``connectors/postgres/render.py``). The exact SQL per dialect is pinned by
``tests/unit/specs/render.yaml``.
"""

from __future__ import annotations

from dpone_core.strategies.dialect import SqlDialect, Statement
from dpone_core.strategies.plan import LoadPlan

T, S = "dpone_t", "dpone_s"
"""Aliases of the target and the staging table in every statement."""
GRAINS = frozenset({"hour", "day", "week", "month", "year"})
KEY_STRATEGIES = frozenset({"incremental", "merge", "snapshot_diff", "scd2"})


class PlanSql:
    """SQL fragments of one plan in one dialect (names quoted, staged values cast where the plan says)."""

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
        """Staged columns, comma-separated."""
        if not self.plan.casts:
            return self.d.column_list(columns, S)
        return ", ".join(self.staged(c) for c in columns)

    def key_match(self) -> str:
        """Target row and staged row have the same key."""
        return " AND ".join(f"{T}.{self.d.quote(k)} = {self.staged(k)}" for k in self.plan.primary_key)

    def marked(self) -> str:
        """The staged row carries the delete marker (FALSE without a marker)."""
        marker = self.plan.delete_marker
        return self.d.is_true(f"{S}.{self.d.quote(marker.column)}") if marker else "FALSE"

    def not_in_target(self, extra: str = "") -> str:
        """No target row has the staged row's key (and ``extra``)."""
        return f"NOT EXISTS (SELECT 1 FROM {self.target} AS {T} WHERE {self.key_match()}{extra})"


class StrategyRenderer:
    """Renders plans for ``dialect``; subclass it where a system's SQL differs."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.d = dialect

    def render(self, plan: LoadPlan) -> list[Statement]:
        """The statements of ``plan``, run in order inside one transaction.

        >>> from dpone_core.model import TableRef
        >>> p = LoadPlan("append", TableRef("a", "t"), TableRef("s", "x"), ("id",))
        >>> StrategyRenderer(SqlDialect()).render(p)[0].sql
        'INSERT INTO "a"."t" ("id") SELECT dpone_s."id" FROM "s"."x" AS dpone_s'
        """
        method = getattr(self, plan.strategy, None) if plan.strategy in _STRATEGIES else None
        if method is None:
            raise ValueError(f"strategy {plan.strategy} has no SQL rendering")
        q = PlanSql(plan, self.d)
        if plan.target_empty and plan.strategy in KEY_STRATEGIES:
            return self.first_load(q)
        statements: list[Statement] = method(q)
        return statements

    # ---- statements ---------------------------------------------------------------------------
    def distinct(self, left: str, right: str) -> str:
        """``left`` and ``right`` differ, NULLs compared as values."""
        return f"{left} IS DISTINCT FROM {right}"

    def changed(self, q: PlanSql, columns: tuple[str, ...]) -> str:
        """Any of ``columns`` differs between the target row and the staged row."""
        return " OR ".join(self.distinct(f"{T}.{self.d.quote(c)}", q.staged(c)) for c in columns)

    def insert_select(self, q: PlanSql, where: str | None = None, name: str = "insert") -> Statement:
        """Insert the staged rows (those matching ``where``) into the target; counts inserted."""
        cols = q.plan.target_columns
        sql = (
            f"INSERT INTO {q.target} ({self.d.column_list(cols)}) SELECT {q.staged_list(cols)} FROM {q.staging} AS {S}"
        )
        if where:
            sql += f" WHERE {where}"
        return Statement(name, sql, (), "inserted")

    def update_from(
        self, q: PlanSql, name: str, assignments: str, where: str, counts_as: str, params: tuple[object, ...] = ()
    ) -> Statement:
        """``UPDATE`` target rows from their staged rows where ``where`` holds."""
        sql = f"UPDATE {q.target} AS {T} SET {assignments} FROM {q.staging} AS {S} WHERE {where}"
        return Statement(name, sql, params, counts_as)

    def delete_where(self, q: PlanSql, name: str, condition: str) -> Statement:
        """``DELETE`` target rows where ``condition`` (over the target alias) holds; counts deleted."""
        return Statement(name, f"DELETE FROM {q.target} AS {T} WHERE {condition}", (), "deleted")

    def update_changed(self, q: PlanSql, where_extra: str, name: str, counts_as: str) -> Statement | None:
        """Set the compared columns of target rows whose staged values changed (None without such columns)."""
        cols = q.plan.compare_columns
        if not cols:
            return None
        assignments = ", ".join(f"{self.d.quote(c)} = {q.staged(c)}" for c in cols)
        return self.update_from(
            q, name, assignments, f"{q.key_match()} AND ({self.changed(q, cols)}){where_extra}", counts_as
        )

    def delete_marked(self, q: PlanSql) -> Statement:
        """Delete target rows whose staged row carries the (hard) delete marker."""
        return self.delete_where(
            q, "delete_marked", f"EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {q.key_match()} AND {q.marked()})"
        )

    # ---- strategies ---------------------------------------------------------------------------
    def full_refresh(self, q: PlanSql) -> list[Statement]:
        """Empty the target, insert the staged rows."""
        return [Statement("delete_all", f"DELETE FROM {q.target}", (), "deleted"), self.insert_select(q)]

    def append(self, q: PlanSql) -> list[Statement]:
        """Insert every staged row."""
        return [self.insert_select(q)]

    def incremental(self, q: PlanSql) -> list[Statement]:
        """Insert; with a key, rows re-read by a lookback window are skipped instead of duplicated."""
        return [self.insert_select(q, q.not_in_target() if q.plan.primary_key else None)]

    def merge(self, q: PlanSql) -> list[Statement]:
        """Delete marked rows (hard) or flag them (soft), update changed rows, insert new ones."""
        statements: list[Statement] = []
        marker = q.plan.delete_marker
        if marker and marker.mode == "hard":
            statements.append(self.delete_marked(q))
        elif marker:
            soft = self.update_changed(q, f" AND {q.marked()}", "soft_delete", "deleted")
            if soft:
                statements.append(soft)
        update = self.update_changed(q, f" AND NOT ({q.marked()})", "update", "updated")
        if update:
            statements.append(update)
        insert_where = q.not_in_target()
        if marker and marker.mode == "hard":
            insert_where += f" AND NOT ({q.marked()})"
        statements.append(self.insert_select(q, insert_where))
        return statements

    def snapshot_diff(self, q: PlanSql) -> list[Statement]:
        """Delete target rows whose key is no longer in the snapshot, then merge."""
        missing = f"NOT EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {q.key_match()})"
        return [self.delete_where(q, "delete_missing", missing), *self.merge(q)]

    def partition_replace(self, q: PlanSql) -> list[Statement]:
        """Delete the partitions present in staging (its NULL partition included), insert the staged rows."""
        spec = q.plan.partition
        if spec is None:
            raise ValueError("partition_replace needs a partition column")
        col = self.d.quote(spec.column)
        t_expr, s_expr = f"{T}.{col}", q.staged(spec.column)
        if spec.grain:
            if spec.grain not in GRAINS:
                raise ValueError(f"unknown grain {spec.grain}")
            t_expr, s_expr = self.d.date_trunc(spec.grain, t_expr), self.d.date_trunc(spec.grain, s_expr)
        present = f"EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {s_expr} = {t_expr})"
        # Rows without a partition value form a partition of their own. `=` never matches NULL, and
        # IS NOT DISTINCT FROM in the statement above would cost it its index and hash join.
        null = f"{t_expr} IS NULL AND EXISTS (SELECT 1 FROM {q.staging} AS {S} WHERE {s_expr} IS NULL)"
        return [
            self.delete_where(q, "delete_partitions", present),
            self.delete_where(q, "delete_null_partition", null),
            self.insert_select(q),
        ]

    def scd2(self, q: PlanSql) -> list[Statement]:
        """Close the current versions of deleted and changed keys, insert the new versions."""
        plan, d = q.plan, self.d
        spec = plan.scd2
        if spec is None or plan.load_time is None:
            raise ValueError("scd2 needs history column names and a load time")
        current = d.is_true(f"{T}.{d.quote(spec.is_current)}")
        closing = f"{d.quote(spec.valid_to)} = {d.placeholder}, {d.quote(spec.is_current)} = FALSE"
        statements: list[Statement] = []
        if plan.delete_marker:
            where = f"{q.key_match()} AND {current} AND {q.marked()}"
            statements.append(self.update_from(q, "close_deleted", closing, where, "deleted", (plan.load_time,)))
        if plan.compare_columns:
            where = (
                f"{q.key_match()} AND {current} AND NOT ({q.marked()}) AND ({self.changed(q, plan.compare_columns)})"
            )
            statements.append(self.update_from(q, "close_changed", closing, where, "updated", (plan.load_time,)))
        statements.append(self.insert_versions(q, f"NOT ({q.marked()}) AND {q.not_in_target(f' AND {current}')}"))
        return statements

    def insert_versions(self, q: PlanSql, where: str) -> Statement:
        """Insert staged rows as current versions valid from the load time."""
        plan, d = q.plan, self.d
        assert plan.scd2 is not None
        spec, cols = plan.scd2, plan.target_columns
        history = (spec.valid_from, spec.valid_to, spec.is_current)
        sql = (
            f"INSERT INTO {q.target} ({d.column_list(cols)}, {d.column_list(history)}) "
            f"SELECT {q.staged_list(cols)}, {d.placeholder}, NULL, TRUE FROM {q.staging} AS {S} WHERE {where}"
        )
        return Statement("insert_versions", sql, (plan.load_time,), "inserted")

    def first_load(self, q: PlanSql) -> list[Statement]:
        """Into a table this load created: every key is new, so key strategies are plain inserts."""
        plan = q.plan
        if plan.strategy == "scd2" and plan.scd2 is not None:
            return [self.insert_versions(q, f"NOT ({q.marked()})")]
        marker = plan.delete_marker
        return [self.insert_select(q, f"NOT ({q.marked()})" if marker and marker.mode == "hard" else None)]


_STRATEGIES = frozenset(
    {"full_refresh", "append", "incremental", "merge", "snapshot_diff", "partition_replace", "scd2"}
)


def render_plan(plan: LoadPlan, dialect: SqlDialect) -> list[Statement]:
    """``plan`` rendered with the shared SQL of ``dialect`` (:class:`StrategyRenderer`)."""
    return StrategyRenderer(dialect).render(plan)
