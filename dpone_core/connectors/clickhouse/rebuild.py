"""The SQL that builds a load's new version of the target, and counts what it changes, per strategy.

Every strategy except append/incremental publishes by swapping in a table built beside the target
(``built``): its rows are the target's rows the load keeps plus the staged rows, written by
``INSERT ... SELECT`` into a table created like the target. Nothing touches the live table until
the swap, so a reader never sees a half-applied merge or a hole. The statements are plain data
(SQL and parameters) because the journal keeps them: a run that finds an unfinished publish
rebuilds from them (the target has not changed until its swap).

Keys are compared with ``IN`` over tuples and joins with ``join_use_nulls``; NULL slices of a
``partition_replace`` match each other through ``transform_null_in``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dpone_core.connectors.clickhouse.sql import column_list, partition_expression, quote, table
from dpone_core.model import TableRef
from dpone_core.strategies.plan import LoadPlan

T, S = "dpone_t", "dpone_s"
FOUND = "__dpone_found"
JOIN = {"join_use_nulls": 1, "transform_null_in": 1}
"""Settings of every statement here: unmatched join columns are NULL, and NULL IN (NULL) holds."""


@dataclass(frozen=True)
class Step:
    """One statement with its server-side parameters (JSON-able, kept in the journal)."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """For the journal."""
        return asdict(self)


class Rebuild:
    """Statements of one plan: ``fill`` writes the built table, ``counts`` measures the change."""

    def __init__(self, plan: LoadPlan, built: TableRef, target_columns: tuple[str, ...]) -> None:
        self.plan, self.built = plan, built
        self.t, self.s, self.n = table(plan.target), table(plan.staging), table(built)
        self.all_columns = target_columns
        """Columns of the built table (the target's, after the load's DDL)."""
        self.params: dict[str, Any] = {}
        if plan.load_time is not None:
            self.params["load_time"] = plan.load_time.strftime("%Y-%m-%d %H:%M:%S.%f")

    # ---- fragments ------------------------------------------------------------------------------
    @property
    def keys(self) -> str:
        return column_list(self.plan.primary_key)

    def key_on(self) -> str:
        return " AND ".join(f"{S}.{quote(k)} = {T}.{quote(k)}" for k in self.plan.primary_key)

    def marked(self) -> str:
        marker = self.plan.delete_marker
        return f"ifNull({S}.{quote(marker.column)}, false)" if marker else "false"

    def changed(self) -> str:
        columns = self.plan.compare_columns
        if not columns:
            return "false"
        return "(" + " OR ".join(f"{S}.{quote(c)} IS DISTINCT FROM {T}.{quote(c)}" for c in columns) + ")"

    def hard(self) -> bool:
        marker = self.plan.delete_marker
        return marker is not None and marker.mode == "hard"

    def _insert(self, columns: tuple[str, ...], select: str) -> Step:
        return Step(f"INSERT INTO {self.n} ({column_list(columns)}) {select} SETTINGS {_settings()}", self.params)

    def staged_rows(self, where: str | None = None) -> Step:
        """The staged rows into the built table, with the target's values of columns the load lacks."""
        cols = self.plan.target_columns
        extra = tuple(c for c in self.all_columns if c not in cols and not self._history(c))
        filters = f" WHERE {where}" if where else ""
        if not extra or not self.plan.primary_key:
            return self._insert(cols, f"SELECT {column_list(cols, S)} FROM {self.s} AS {S}{filters}")
        source = f"{self.s} AS {S} LEFT JOIN {self.t} AS {T} ON {self.key_on()}"
        return self._insert(
            cols + extra, f"SELECT {column_list(cols, S)}, {column_list(extra, T)} FROM {source}{filters}"
        )

    def _history(self, column: str) -> bool:
        spec = self.plan.scd2
        return spec is not None and column in (spec.valid_from, spec.valid_to, spec.is_current)

    def kept_rows(self, where: str) -> Step:
        """Target rows the load keeps."""
        cols = self.all_columns
        return self._insert(cols, f"SELECT {column_list(cols, T)} FROM {self.t} AS {T} WHERE {where}")

    def not_staged(self) -> str:
        return f"({column_list(self.plan.primary_key, T)}) NOT IN (SELECT {self.keys} FROM {self.s})"

    # ---- strategies -----------------------------------------------------------------------------
    def fill(self, target_exists: bool) -> list[Step]:
        """The statements filling the built table."""
        plan = self.plan
        unmarked = f"NOT {self.marked()}" if self.hard() or plan.strategy == "scd2" else None
        if not target_exists or plan.strategy == "full_refresh":
            if plan.strategy == "scd2":
                return [self.new_versions(target_exists=False)]
            return [self.staged_rows(unmarked)]
        if plan.strategy == "merge":
            return [self.kept_rows(self.not_staged()), self.staged_rows(unmarked)]
        if plan.strategy == "snapshot_diff":
            return [self.staged_rows(unmarked)]
        if plan.strategy == "partition_replace":
            return [self.kept_rows(f"NOT ({self.in_staged_slices()})"), self.staged_rows()]
        if plan.strategy == "scd2":
            return [self.closed_versions(), self.new_versions(target_exists=True)]
        raise ValueError(f"strategy {plan.strategy} is not rebuilt")

    def slice_of(self, alias: str) -> str:
        spec = self.plan.partition
        assert spec is not None
        return partition_expression(spec.column, spec.grain).replace(
            quote(spec.column), f"{alias}.{quote(spec.column)}"
        )

    def in_staged_slices(self) -> str:
        return f"{self.slice_of(T)} IN (SELECT DISTINCT {self.slice_of(S)} FROM {self.s} AS {S})"

    def closed_versions(self) -> Step:
        """Every target row; current versions of changed or deleted keys closed at the load time."""
        spec = self.plan.scd2
        assert spec is not None
        close = f"({T}.{quote(spec.is_current)} AND {S}.{FOUND} = 1 AND ({self.marked()} OR {self.changed()}))"
        cols = [c for c in self.all_columns if c not in (spec.valid_to, spec.is_current)]
        exprs = [
            *(f"{T}.{quote(c)}" for c in cols),
            f"if({close}, {{load_time:DateTime64(6, 'UTC')}}, {T}.{quote(spec.valid_to)})",
            f"if({close}, false, {T}.{quote(spec.is_current)})",
        ]
        staged = f"(SELECT *, 1 AS {FOUND} FROM {self.s})"
        source = f"{self.t} AS {T} LEFT JOIN {staged} AS {S} ON {self.key_on()}"
        columns = (*cols, spec.valid_to, spec.is_current)
        return self._insert(columns, f"SELECT {', '.join(exprs)} FROM {source}")

    def new_versions(self, target_exists: bool) -> Step:
        """Staged rows of new or changed keys as current versions valid from the load time."""
        spec = self.plan.scd2
        assert spec is not None
        cols = self.plan.target_columns
        exprs = f"{column_list(cols, S)}, {{load_time:DateTime64(6, 'UTC')}}, NULL, true"
        columns = (*cols, spec.valid_from, spec.valid_to, spec.is_current)
        if not target_exists:
            return self._insert(columns, f"SELECT {exprs} FROM {self.s} AS {S} WHERE NOT {self.marked()}")
        source = f"{self.s} AS {S} LEFT JOIN {self._current()} AS {T} ON {self.key_on()}"
        where = f"NOT {self.marked()} AND ({T}.{FOUND} IS NULL OR {self.changed()})"
        return self._insert(columns, f"SELECT {exprs} FROM {source} WHERE {where}")

    def _current(self) -> str:
        spec = self.plan.scd2
        assert spec is not None
        return f"(SELECT *, 1 AS {FOUND} FROM {self.t} WHERE {quote(spec.is_current)})"

    # ---- counts ---------------------------------------------------------------------------------
    def counts(self, target_exists: bool) -> tuple[str, dict[str, Any]]:
        """One query returning (inserted, updated, deleted) of the load."""
        plan = self.plan
        if not target_exists:
            return f"SELECT countIf(NOT {self.marked()}) AS i, 0, 0 FROM {self.s} AS {S}", {}
        if plan.strategy == "full_refresh":
            return f"SELECT (SELECT count() FROM {self.s}), 0, (SELECT count() FROM {self.t})", {}
        if plan.strategy == "partition_replace":
            deleted = f"SELECT count() FROM {self.t} AS {T} WHERE {self.in_staged_slices()}"
            return f"SELECT (SELECT count() FROM {self.s}), 0, ({deleted}) SETTINGS {_settings()}", {}
        target = self._current() if plan.strategy == "scd2" else f"(SELECT *, 1 AS {FOUND} FROM {self.t})"
        found, marked, changed = f"{T}.{FOUND} = 1", self.marked(), self.changed()
        inserted = f"NOT {found}" + (f" AND NOT {marked}" if self.hard() else "")
        if plan.strategy == "scd2":  # a changed key gets a new version too
            inserted = f"(NOT {found} OR {changed}) AND NOT {marked}"
        soft = plan.delete_marker is not None and not self.hard() and plan.strategy != "scd2"
        deleted = f"{found} AND {marked}" + (f" AND {changed}" if soft else "")
        updated = f"{found} AND NOT {marked} AND {changed}"
        sql = (
            f"SELECT countIf(ifNull({inserted}, true)) AS i, countIf(ifNull({updated}, false)) AS u, "
            f"countIf(ifNull({deleted}, false)) AS d FROM {self.s} AS {S} LEFT JOIN {target} AS {T} ON {self.key_on()}"
        )
        if plan.strategy == "snapshot_diff":
            missing = f"SELECT count() FROM {self.t} AS {T} WHERE {self.not_staged()}"
            sql = f"SELECT c.i, c.u, c.d + ({missing}) FROM ({sql} SETTINGS {_settings()}) AS c"
        return f"{sql} SETTINGS {_settings()}", {}


def _settings() -> str:
    return ", ".join(f"{k} = {v}" for k, v in JOIN.items())
