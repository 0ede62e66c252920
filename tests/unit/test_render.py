"""Strategy plans rendered to SQL: the statements, their order and what each one counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dpone_core.connectors.duckdb.sql import DuckDBDialect
from dpone_core.connectors.postgres.render import PostgresRenderer
from dpone_core.model import TableRef
from dpone_core.strategies.dialect import SqlDialect
from dpone_core.strategies.plan import DeleteMarkerSpec, LoadPlan, PartitionSpec, Scd2Spec
from dpone_core.strategies.render import render_plan

T = TableRef("an", "orders")
S = TableRef("__dpone_staging", "stg")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def plan(strategy: str, **kw: object) -> LoadPlan:
    return LoadPlan(strategy, T, S, ("id", "v", "deleted"), ("id",), load_time=NOW, **kw)  # type: ignore[arg-type]


def names(p: LoadPlan) -> list[tuple[str, str | None]]:
    return [(s.name, s.counts_as) for s in render_plan(p, SqlDialect())]


def test_quoting_doubles_quotes_and_keeps_case() -> None:
    d = SqlDialect()
    assert d.quote('Weird "Name"; drop') == '"Weird ""Name""; drop"'
    assert d.table(TableRef("My Schema", "select")) == '"My Schema"."select"'
    with pytest.raises(ValueError):
        d.quote("")
    with pytest.raises(ValueError):
        d.quote("a\x00b")


def test_append() -> None:
    (stmt,) = render_plan(plan("append"), SqlDialect())
    assert stmt.sql == (
        'INSERT INTO "an"."orders" ("id", "v", "deleted") SELECT dpone_s."id", dpone_s."v", dpone_s."deleted" '
        'FROM "__dpone_staging"."stg" AS dpone_s'
    )
    assert stmt.counts_as == "inserted"


def test_full_refresh_deletes_then_inserts() -> None:
    assert names(plan("full_refresh")) == [("delete_all", "deleted"), ("insert", "inserted")]


def test_incremental_skips_existing_keys() -> None:
    (stmt,) = render_plan(plan("incremental"), SqlDialect())
    assert 'WHERE NOT EXISTS (SELECT 1 FROM "an"."orders" AS dpone_t WHERE dpone_t."id" = dpone_s."id")' in stmt.sql


def test_merge_updates_only_changed_rows() -> None:
    statements = render_plan(plan("merge"), SqlDialect())
    assert [s.name for s in statements] == ["update", "insert"]
    update = statements[0].sql
    assert 'dpone_t."v" IS DISTINCT FROM dpone_s."v"' in update
    assert 'SET "v" = dpone_s."v", "deleted" = dpone_s."deleted"' in update


def test_merge_hard_delete_marker() -> None:
    p = plan("merge", delete_marker=DeleteMarkerSpec("deleted", "hard"))
    assert names(p) == [("delete_marked", "deleted"), ("update", "updated"), ("insert", "inserted")]
    insert = render_plan(p, SqlDialect())[-1].sql
    assert '"deleted"' not in insert.split("SELECT")[0]  # a hard marker is not stored
    assert 'NOT (dpone_s."deleted" IS TRUE)' in insert


def test_merge_soft_delete_marker_keeps_the_row() -> None:
    p = plan("merge", delete_marker=DeleteMarkerSpec("deleted", "soft"))
    assert names(p) == [("soft_delete", "deleted"), ("update", "updated"), ("insert", "inserted")]


def test_snapshot_diff_deletes_missing_keys_first() -> None:
    assert names(plan("snapshot_diff"))[0] == ("delete_missing", "deleted")


def test_partition_replace_by_grain() -> None:
    p = plan("partition_replace", partition=PartitionSpec("v", "day"))
    first = render_plan(p, SqlDialect())[0].sql
    assert "date_trunc('day', dpone_s.\"v\") = date_trunc('day', dpone_t.\"v\")" in first
    with pytest.raises(ValueError):
        render_plan(plan("partition_replace", partition=PartitionSpec("v", "fortnight")), SqlDialect())


def test_scd2_closes_changed_and_deleted_then_inserts_versions() -> None:
    p = plan("scd2", scd2=Scd2Spec(), delete_marker=DeleteMarkerSpec("deleted", "hard"))
    statements = render_plan(p, DuckDBDialect())
    assert [(s.name, s.counts_as) for s in statements] == [
        ("close_deleted", "deleted"),
        ("close_changed", "updated"),
        ("insert_versions", "inserted"),
    ]
    assert all(s.params == (NOW,) for s in statements)
    assert '"valid_to" = ?, "is_current" = FALSE' in statements[1].sql


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="no SQL rendering"):
        render_plan(plan("cdc_apply"), SqlDialect())


def test_postgres_full_refresh_truncates_after_counting_under_the_lock() -> None:
    from dpone_core.connectors.postgres.sql import PostgresDialect

    statements = PostgresRenderer(PostgresDialect(), truncate=True).render(plan("full_refresh"))
    assert [(s.name, s.counts_as, s.counts) for s in statements] == [
        ("lock_target", None, ()),
        ("delete_all", None, ("deleted",)),
        ("truncate", None, ()),
        ("insert", "inserted", ()),
    ]
    assert statements[0].sql == 'LOCK TABLE "an"."orders" IN ACCESS EXCLUSIVE MODE'
    assert statements[2].sql == 'TRUNCATE "an"."orders"'
    # Off by default (and always for DuckDB): DELETE keeps MVCC readers and delete triggers.
    assert names(plan("full_refresh")) == [("delete_all", "deleted"), ("insert", "inserted")]
    assert render_plan(plan("full_refresh"), PostgresDialect())[0].sql == 'DELETE FROM "an"."orders"'


def test_postgres_merge_is_one_upsert_returning_both_counts() -> None:
    from dpone_core.connectors.postgres.sql import PostgresDialect

    (stmt,) = PostgresRenderer(PostgresDialect(), upsert=True).render(plan("merge"))
    assert (stmt.name, stmt.counts_as, stmt.counts) == ("upsert", None, ("inserted", "updated"))
    assert 'INSERT INTO "an"."orders" AS dpone_t ("id", "v", "deleted")' in stmt.sql
    assert 'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v", "deleted" = EXCLUDED."deleted"' in stmt.sql
    assert 'WHERE dpone_t."v" IS DISTINCT FROM EXCLUDED."v" OR dpone_t."deleted" IS DISTINCT FROM' in stmt.sql
    assert "RETURNING (dpone_t.xmax = 0)" in stmt.sql


def test_postgres_merge_hard_marker_deletes_then_upserts_soft_marker_keeps_update_insert() -> None:
    from dpone_core.connectors.postgres.sql import PostgresDialect

    d = PostgresRenderer(PostgresDialect(), upsert=True)
    hard = d.render(plan("merge", delete_marker=DeleteMarkerSpec("deleted", "hard")))
    assert [s.name for s in hard] == ["delete_marked", "upsert"]
    assert 'WHERE NOT (dpone_s."deleted" IS TRUE) ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE' in (
        hard[1].sql
    )
    soft = d.render(plan("merge", delete_marker=DeleteMarkerSpec("deleted", "soft")))
    assert [s.name for s in soft] == ["soft_delete", "update", "insert"]
    assert [s.name for s in d.render(plan("snapshot_diff"))] == ["delete_missing", "upsert"]
    # A new target is still a plain insert; a key-only table skips conflicts.
    assert [s.name for s in d.render(plan("merge", target_empty=True))] == ["insert"]
    only_key = LoadPlan("merge", T, S, ("id",), ("id",))
    assert 'ON CONFLICT ("id") DO NOTHING' in d.render(only_key)[0].sql
