"""The contract as DuckDB SQL (``connectors/duckdb/contract_sql.py``) judges each value as the Arrow gate does.

Every case writes a column of edge values to Parquet (DuckDB folds conditions by its statistics, so
the file matters), evaluates the rule terms over ``read_parquet`` and compares the reason of every
row with the one the Arrow gate (``ContractGate.check``) gives it. Rules SQL cannot judge exactly
must be refused, not approximated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dpone_core.connectors.duckdb.contract_sql import rule_terms
from dpone_core.gates.contract import REASON_COLUMN, ContractGate
from dpone_core.manifest.contract import SchemaContract
from dpone_core.model import empty_batch
from dpone_core.spi.ports import ScanRefused

TEXT = ["a", "b", "ab", "", "é", "z", "Z", "a\nb", "x@y", "x@y@z", " x@y", "🙂", "e\u0301", None, "ünï", "NEW"]
CASES: list[tuple[str, pa.DataType, list[Any], dict[str, Any]]] = [
    ("int_bounds", pa.int64(), [-5, 0, 1, 9, 10, 11, None, 2**62], {"min": 0, "max": 10}),
    ("int_allowed", pa.int32(), [1, 2, 3, None, -1], {"allowed": [1, 3]}),
    ("uint_bounds", pa.uint64(), [0, 1, 2**62, 2**63, None], {"min": 1, "max": 2**62}),
    ("decimal_bounds", pa.decimal128(18, 2), [Decimal("-0.01"), Decimal("0"), Decimal("99.99"), None], {"min": 0}),
    ("decimal_max", pa.decimal128(18, 2), [Decimal("100.00"), Decimal("100.01"), None], {"max": "100"}),
    ("text_bounds", pa.string(), TEXT, {"min": "a", "max": "b"}),
    ("text_allowed", pa.string(), TEXT, {"allowed": ["a", "é", "NEW"]}),
    ("text_regex", pa.string(), TEXT, {"regex": "^[^@ ]+@[^@ ]+$"}),
    ("text_regex_search", pa.string(), TEXT, {"regex": "b|\u0301"}),
    ("text_regex_dot", pa.string(), TEXT, {"regex": "^a.b$"}),
    ("text_max_length", pa.string(), TEXT, {"max_length": 1}),
    ("text_not_null", pa.string(), TEXT, {"nullable": False}),
    ("date_bounds", pa.date32(), [date(2020, 1, 1), date(2019, 12, 31), date(2030, 1, 2), None], {"min": "2020-01-01"}),
    (
        "timestamptz_bounds",
        pa.timestamp("us", tz="UTC"),
        [datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None],
        {"min": "2026-01-01T00:00:00+00:00"},
    ),
    ("timestamp_max", pa.timestamp("us"), [datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 1)], {"max": "2026-01-01"}),
    ("bool_allowed", pa.bool_(), [True, False, None], {"allowed": [True]}),
]


def _gate(rule: dict[str, Any], enforcement: str = "quarantine") -> ContractGate:
    return ContractGate(SchemaContract.model_validate({"enforcement": enforcement, "columns": {"c": rule}}))


def _judge(tmp_path: Path, gate: ContractGate, table: pa.Table) -> tuple[list[str | None], list[str | None]]:
    """Reasons per row: by the Arrow gate, and by the SQL terms over the Parquet file."""
    gate.check(empty_batch(table.schema))  # describes the rules, as the native path does first
    verdict = gate.check(table.to_batches()[0])
    reasons: dict[int, str] = {}
    if verdict.rejected is not None:
        positions = verdict.rejected.column("row").to_pylist()
        reasons = dict(zip(positions, verdict.rejected.column(REASON_COLUMN).to_pylist(), strict=True))
    arrow = [reasons.get(i) for i in range(table.num_rows)]
    path = tmp_path / "c.parquet"
    pq.write_table(table, path)
    with duckdb.connect() as con:
        source = f"read_parquet('{path}')"
        types = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        terms = rule_terms(gate, table.schema, types)
        if not terms:
            return arrow, [None] * table.num_rows
        cases = ", ".join(f"CASE WHEN {t.sql} THEN '{t.reason}' END" for t in terms)
        rows = con.execute(f"SELECT NULLIF(concat_ws('; ', {cases}), '') FROM {source} ORDER BY row").fetchall()
    return arrow, [r[0] for r in rows]


@pytest.mark.parametrize(("case", "arrow_type", "values", "rule"), CASES, ids=[c[0] for c in CASES])
def test_each_value_fails_in_sql_exactly_where_the_arrow_gate_rejects_it(
    tmp_path: Path, case: str, arrow_type: pa.DataType, values: list[Any], rule: dict[str, Any]
) -> None:
    table = pa.table({"c": pa.array(values, arrow_type), "row": pa.array(range(len(values)), pa.int64())})
    arrow, sql = _judge(tmp_path, _gate(rule), table)
    assert sql == arrow
    assert any(arrow), "each case rejects at least one value"


def test_under_enforcement_off_only_a_key_null_fails(tmp_path: Path) -> None:
    gate = ContractGate(SchemaContract.model_validate({"enforcement": "off", "columns": {"c": {"min": 5}}}), key=("c",))
    table = pa.table({"c": pa.array([1, None, 7], pa.int64()), "row": pa.array([0, 1, 2], pa.int64())})
    terms = rule_terms(gate, table.schema, {"c": "BIGINT", "row": "BIGINT"})
    assert [(t.rule, t.sql) for t in terms] == [("c.not_null", 'COALESCE("c" IS NULL, FALSE)')]


@pytest.mark.parametrize(
    ("arrow_type", "duck_type", "rule"),
    [
        (pa.float64(), "DOUBLE", {"min": 0}),  # NaN: DuckDB folds isnan by Parquet statistics
        (pa.float32(), "FLOAT", {"allowed": [0.0]}),  # Arrow's is_in tells -0.0 from 0.0
        (pa.int64(), "BIGINT", {"regex": "^1"}),  # Arrow matches the text form of a number
        (pa.int64(), "BIGINT", {"max_length": 2}),
        (pa.list_(pa.int64()), "BIGINT[]", {"min": 0}),
    ],
)
def test_rules_sql_cannot_judge_as_arrow_are_refused(
    arrow_type: pa.DataType, duck_type: str, rule: dict[str, Any]
) -> None:
    with pytest.raises(ScanRefused):
        rule_terms(_gate(rule), pa.schema([("c", arrow_type)]), {"c": duck_type})
