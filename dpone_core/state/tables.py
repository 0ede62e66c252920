"""The two bookkeeping tables every SQL sink keeps: ``__dpone__state`` and ``__dpone__loads``.

Defined once as Arrow schemas and rendered per dialect, so every sink stores the same columns.
"""

from __future__ import annotations

import pyarrow as pa

from dpone_core.model import TargetColumn, TargetSchema

STATE_TABLE = "__dpone__state"
LOADS_TABLE = "__dpone__loads"

_TS = pa.timestamp("us", tz="UTC")

STATE_SCHEMA = TargetSchema(
    (
        TargetColumn("process", pa.string(), False),
        TargetColumn("cursor_column", pa.string()),
        TargetColumn("cursor_value", pa.string()),
        TargetColumn("state_json", pa.string()),
        TargetColumn("run_id", pa.string(), False),
        TargetColumn("load_id", pa.string(), False),
        TargetColumn("updated_at", _TS, False),
    ),
    ("process",),
)

LOADS_SCHEMA = TargetSchema(
    (
        TargetColumn("load_id", pa.string(), False),
        TargetColumn("run_id", pa.string(), False),
        TargetColumn("process", pa.string(), False),
        TargetColumn("strategy", pa.string(), False),
        TargetColumn("status", pa.string(), False),
        TargetColumn("target_table", pa.string()),
        TargetColumn("rows_extracted", pa.int64(), False),
        TargetColumn("rows_staged", pa.int64(), False),
        TargetColumn("rows_inserted", pa.int64(), False),
        TargetColumn("rows_updated", pa.int64(), False),
        TargetColumn("rows_deleted", pa.int64(), False),
        TargetColumn("rows_quarantined", pa.int64(), False),
        TargetColumn("manifest_sha256", pa.string()),
        TargetColumn("evidence_sha256", pa.string()),
        TargetColumn("state_before", pa.string()),
        TargetColumn("state_after", pa.string()),
        TargetColumn("partition_key", pa.string()),
        TargetColumn("started_at", _TS, False),
        TargetColumn("finished_at", _TS, False),
    ),
    ("load_id",),
)
LOAD_COLUMNS = tuple(c.name for c in LOADS_SCHEMA.columns)
