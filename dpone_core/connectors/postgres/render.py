"""Postgres' own strategy SQL: a counted TRUNCATE for full_refresh, ``INSERT ... ON CONFLICT`` for merge.

Both are chosen per load by the sink after it looked at the target (``PostgresSink.strategy_renderer``):
TRUNCATE only where no foreign key, DELETE trigger or missing privilege needs DELETE's semantics,
the upsert only where a unique index covers exactly the key.
"""

from __future__ import annotations

from dpone_core.connectors.postgres.sql import PostgresDialect
from dpone_core.strategies.dialect import Statement
from dpone_core.strategies.render import PlanSql, S, StrategyRenderer, T


class PostgresRenderer(StrategyRenderer):
    """The shared SQL, with the fast paths the target allows."""

    def __init__(self, dialect: PostgresDialect, *, truncate: bool = False, upsert: bool = False) -> None:
        super().__init__(dialect)
        self.truncate, self.upsert = truncate, upsert

    def full_refresh(self, q: PlanSql) -> list[Statement]:
        """With ``truncate``: lock, count, TRUNCATE, insert."""
        if not self.truncate:
            return super().full_refresh(q)
        # TRUNCATE is transactional and writes no per-row WAL or dead tuples; the lock is the one
        # TRUNCATE takes anyway, held from before the count so the deleted count is exact.
        return [
            Statement("lock_target", f"LOCK TABLE {q.target} IN ACCESS EXCLUSIVE MODE"),
            Statement("delete_all", f"SELECT count(*) FROM {q.target}", counts=("deleted",)),
            Statement("truncate", f"TRUNCATE {q.target}"),
            self.insert_select(q),
        ]

    def merge(self, q: PlanSql) -> list[Statement]:
        """With ``upsert`` (and no soft delete): delete marked rows, then one ``INSERT ... ON CONFLICT``."""
        marker = q.plan.delete_marker
        if not (self.upsert and q.plan.primary_key and (marker is None or marker.mode == "hard")):
            return super().merge(q)
        deletes = [self.delete_marked(q)] if marker else []
        return [*deletes, self.upsert_statement(q, f"NOT ({q.marked()})" if marker else "TRUE")]

    def upsert_statement(self, q: PlanSql, where: str) -> Statement:
        """One ``INSERT ... ON CONFLICT``: changed rows are updated, new rows inserted, both counted.

        ``xmax = 0`` in RETURNING tells an inserted row from an updated one; rows whose values did
        not change are skipped by the DO UPDATE's WHERE and returned by neither.
        """
        d, plan = self.d, q.plan
        cols = plan.target_columns
        if plan.compare_columns:
            sets = ", ".join(f"{d.quote(c)} = EXCLUDED.{d.quote(c)}" for c in plan.compare_columns)
            changed = " OR ".join(
                self.distinct(f"{T}.{d.quote(c)}", f"EXCLUDED.{d.quote(c)}") for c in plan.compare_columns
            )
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
