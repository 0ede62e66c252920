"""The Postgres relay's SQL row checks: which contracts have an exact SQL form, and what it says."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from dpone_core.connectors.postgres.relay import RelayColumn, relay_column_supported
from dpone_core.connectors.postgres.relay_checks import violation_condition
from dpone_core.gates.contract import ContractGate
from dpone_core.manifest.contract import ColumnRule, SchemaContract

ID = RelayColumn("id", 20, -1, pa.int64())
AMOUNT = RelayColumn("amount", 1700, (18 << 16) + 2 + 4, pa.decimal128(18, 2))
NAME = RelayColumn("name", 25, -1, pa.string())
RATIO = RelayColumn("ratio", 701, -1, pa.float64())
AT = RelayColumn("at", 1184, -1, pa.timestamp("us", tz="UTC"))
FLAG = RelayColumn("flag", 16, -1, pa.bool_())
COLUMNS = (ID, AMOUNT, NAME, RATIO, AT, FLAG)


def _gate(enforcement: str = "strict", not_null: frozenset[str] = frozenset(), **rules: dict[str, Any]) -> ContractGate:
    columns = {name: ColumnRule(**rule) for name, rule in rules.items()}
    return ContractGate(SchemaContract(enforcement=enforcement, columns=columns), not_null=not_null)


def test_values_arrow_cannot_hold_are_always_flagged() -> None:
    condition, params = violation_condition(COLUMNS, _gate("off"))  # type: ignore[misc]
    assert condition == (
        "\"amount\" = 'NaN' OR \"amount\" IN ('Infinity', '-Infinity') OR NOT isfinite(\"at\") "
        "OR \"at\" >= '294247-01-01 00:00:00+00'::timestamptz"
    )
    assert params == []
    # Numeric infinity exists from Postgres 14 on: before it, 'Infinity' is not even valid input.
    old_server, _ = violation_condition(COLUMNS, _gate("off"), 130000)  # type: ignore[misc]
    assert old_server.startswith("\"amount\" = 'NaN' OR ")


def test_rules_become_bound_conditions_with_arrow_typed_values() -> None:
    gate = _gate(
        not_null=frozenset({"id"}),
        amount={"type": "decimal", "precision": 18, "scale": 2, "min": 0, "max": "99.5"},
        name={"nullable": False, "allowed": ["a", "b"], "max_length": 5},
        ratio={"min": 0.5},
        at={"min": "2026-01-01"},
    )
    condition, params = violation_condition(COLUMNS, gate)  # type: ignore[misc]
    terms = condition.split(" OR ")
    assert '"id" IS NULL' in terms and '"name" IS NULL' in terms
    assert '"amount" < \x00p' in terms and '"amount" > \x00p' in terms
    # Text compares byte by byte, as Arrow does; a float NaN breaks every bound in Arrow.
    assert 'NOT ("name" COLLATE "C" = ANY(CAST(\x00p AS text[])))' in terms
    assert 'char_length("name") > \x00p' in terms
    assert "\"ratio\" = 'NaN'" in terms and '"ratio" < \x00p' in terms
    assert Decimal("0") in params and Decimal("99.5") in params and ["a", "b"] in params and 5 in params
    at_bound = next(p for p in params if hasattr(p, "tzinfo") and p.tzinfo is not None)
    assert (at_bound.year, at_bound.utcoffset().total_seconds()) == (2026, 0)


@pytest.mark.parametrize(
    "rules",
    [
        {"name": {"regex": "^a"}},  # RE2 and Postgres regexes differ at the edges
        {"id": {"type": "int32"}},  # a conversion the Arrow gate would make
        {"flag": {"allowed": [True]}},  # bool has no ordered SQL form here
        {"amount": {"max_length": 3}},  # Arrow measures its own text form of a number
        {"missing": {"nullable": False}},
        {"ratio": {"allowed": [0.0, 1.5]}},  # Arrow's is_in tells -0.0 from 0.0, Postgres's = does not
        {"id": {"max": 1e30}},  # a bound the column cannot hold: the Arrow gate reports it
    ],
)
def test_rules_without_an_exact_sql_form_rule_out_the_relay(rules: dict[str, Any]) -> None:
    assert violation_condition(COLUMNS, _gate(**rules)) is None


@pytest.mark.parametrize(
    ("oid", "typmod", "supported"),
    [
        (1700, (18 << 16) + 2 + 4, True),
        (1700, -1, False),  # unconstrained numeric: read as decimal128(38, 9), which may refuse values
        (1700, (50 << 16) + 4, False),  # wider than decimal128
        (114, -1, False),  # json becomes jsonb in a new target
        (1042, 14, False),  # char(n)
        (16384, -1, False),  # a user type (enum, domain)
        (3802, -1, True),
    ],
)
def test_relay_types(oid: int, typmod: int, supported: bool) -> None:
    assert relay_column_supported(oid, typmod) is supported


def test_a_conversion_rules_out_the_relay_even_with_enforcement_off() -> None:
    assert violation_condition(COLUMNS, _gate("off", id={"type": "int32"})) is None


def test_a_reading_process_that_lost_its_connection_is_a_transient_error() -> None:
    from dpone_core.connectors.postgres.connection import translate
    from dpone_core.connectors.postgres.copy_out import SourceCopyError
    from dpone_core.errors import TerminalError, TransientError

    lost = SourceCopyError("error with status PGRES_COPY_OUT and no message from the libpq", None, connection_lost=True)
    assert isinstance(translate(lost, "extract", "reading x"), TransientError)
    refused = SourceCopyError("permission denied for table src", "42501")
    assert isinstance(translate(refused, "extract", "reading x"), TerminalError)


def test_a_cancel_by_user_request_is_an_interrupt_and_a_timeout_is_transient() -> None:
    from dpone_core.connectors.postgres.connection import translate
    from dpone_core.connectors.postgres.copy_out import SourceCopyError
    from dpone_core.errors import InterruptedRun, TransientError, exit_code_for

    # ADBC's own SIGINT handler cancels the statement and raises the driver's error, not KeyboardInterrupt.
    cancelled = SourceCopyError("ERROR: canceling statement due to user request", "57014")
    error = translate(cancelled, "finalize", "COPY into public.t")
    assert isinstance(error, InterruptedRun) and not error.retryable and exit_code_for(error) == 130
    timeout = SourceCopyError("ERROR: canceling statement due to statement timeout", "57014")
    assert isinstance(translate(timeout, "finalize", "COPY into public.t"), TransientError)


def test_terms_the_table_guarantees_are_left_out_and_nothing_left_means_no_scan() -> None:
    from dpone_core.connectors.postgres.relay_checks import TableGuarantees

    gate = _gate(not_null=frozenset({"id", "name"}), amount={"min": 0})
    held = TableGuarantees(
        not_null=frozenset({"id", "name"}), bounded_numeric=frozenset({"amount"}), finite=frozenset({"at"})
    )
    condition, params = violation_condition(COLUMNS, gate, 150000, held)  # type: ignore[misc]
    assert condition.split(" OR ") == [
        "\"amount\" = 'NaN'",  # numeric(p,s) holds NaN
        "\"at\" >= '294247-01-01 00:00:00+00'::timestamptz",  # a finite timestamp can still pass Arrow's end
        '"amount" < \x00p',
    ]
    assert params == [Decimal("0")]
    plain = (ID, NAME, FLAG)
    assert violation_condition(plain, _gate(not_null=frozenset({"id", "name"})), 150000, held) == ("", [])
