"""Every write strategy on every sink connector: resulting rows and the counts the report gives."""

from __future__ import annotations

from tests.conformance.conftest import Target, counts, run

CSV2 = "id,v\n1,a\n2,b\n"


def _process(strategy: str, key: bool = True, extra: str = "") -> str:
    pk = ", primary_key: [id]" if key else ""
    return f"""
    name: p
    source: {{connection: inbox, path: data.csv, format: csv{extra}}}
    sink: {{connection: target, table: t, strategy: {strategy}{pk}}}
    """


def test_full_refresh_replaces_the_rows(target: Target) -> None:
    target.require("full_refresh")
    m = target.manifest(_process("full_refresh"), CSV2)
    assert counts(run(m)) == (2, 0, 0)
    target.write("id,v\n2,B\n3,c\n")
    assert counts(run(m)) == (2, 0, 2)
    assert target.rows(m) == [(2, "B"), (3, "c")]


def test_append_adds_every_row(target: Target) -> None:
    target.require("append")
    m = target.manifest(_process("append", key=False), "id,v\n1,a\n")
    run(m)
    target.write(CSV2)
    assert counts(run(m)) == (2, 0, 0)
    assert target.rows(m) == [(1, "a"), (1, "a"), (2, "b")]


def test_incremental_reads_past_the_cursor(target: Target) -> None:
    target.require("incremental")
    m = target.manifest(
        _process("incremental", key=False, extra=", incremental: {cursor: ts}")
        + "schema_contract: {columns: {ts: {type: timestamp, tz: UTC}}}\n",
        "id,v,ts\n1,a,2026-01-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n",
    )
    assert counts(run(m)) == (2, 0, 0)
    target.write("id,v,ts\n1,a,2026-01-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n3,c,2026-01-03T00:00:00Z\n")
    second = run(m)
    assert second.result.extracted_rows == 1 and counts(second) == (1, 0, 0)
    assert target.rows(m) == [(1, "a"), (2, "b"), (3, "c")]
    assert "2026-01-03T00:00:00" in str(second.result.state_after["cursor_value"])


def test_incremental_with_lookback_skips_reread_rows(target: Target) -> None:
    target.require("incremental", lookback=True)
    m = target.manifest(
        _process("incremental", extra=", incremental: {cursor: ts, lookback: 1d}")
        + "schema_contract: {columns: {ts: {type: timestamp, tz: UTC}}}\n",
        "id,v,ts\n1,a,2026-01-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n",
    )
    run(m)
    # Row 2 is read again by the 1-day lookback and skipped; row 3 is new; row 0 is before the window.
    target.write("id,v,ts\n0,z,2025-12-01T00:00:00Z\n2,b,2026-01-02T00:00:00Z\n3,c,2026-01-03T00:00:00Z\n")
    second = run(m)
    assert second.result.extracted_rows == 2 and counts(second) == (1, 0, 0)
    assert target.rows(m) == [(1, "a"), (2, "b"), (3, "c")]


def test_merge_upserts_and_is_a_no_op_when_run_again(target: Target) -> None:
    target.require("merge")
    m = target.manifest(_process("merge"), CSV2)
    run(m)
    target.write("id,v\n1,a\n2,B\n3,c\n")
    assert counts(run(m)) == (1, 1, 0)
    assert counts(run(m)) == (0, 0, 0)
    assert target.rows(m) == [(1, "a"), (2, "B"), (3, "c")]


def test_merge_with_hard_deletes(target: Target) -> None:
    target.require("merge")
    m = target.manifest(
        _process("merge").replace("primary_key: [id]", "primary_key: [id], delete_marker: {column: gone, mode: hard}"),
        "id,v,gone\n1,a,false\n2,b,false\n3,c,false\n",
    )
    assert counts(run(m)) == (3, 0, 0)
    target.write("id,v,gone\n1,a,false\n2,B,false\n3,c,true\n4,d,false\n")
    assert counts(run(m)) == (1, 1, 1)
    assert target.rows(m, ("id", "v", "gone")) == [(1, "a"), (2, "B"), (4, "d")]  # the marker is not stored


def test_merge_with_soft_deletes(target: Target) -> None:
    target.require("merge")
    m = target.manifest(
        _process("merge").replace("primary_key: [id]", "primary_key: [id], delete_marker: {column: gone, mode: soft}"),
        "id,v,gone\n1,a,false\n2,b,false\n",
    )
    run(m)
    target.write("id,v,gone\n2,b,true\n")
    assert counts(run(m)) == (0, 0, 1)
    assert target.rows(m, ("id", "v", "gone")) == [(1, "a", False), (2, "b", True)]


def test_scd2_keeps_history(target: Target) -> None:
    target.require("scd2")
    m = target.manifest(_process("scd2"), CSV2)
    assert counts(run(m)) == (2, 0, 0)
    target.write("id,v\n1,a\n2,B\n3,c\n")
    assert counts(run(m)) == (2, 1, 0)
    assert target.rows(m, ("id", "v", "is_current")) == [
        (1, "a", True),
        (2, "B", True),
        (2, "b", False),
        (3, "c", True),
    ]
    versions = {v: (start, end) for i, v, start, end in target.rows(m, ("id", "v", "valid_from", "valid_to")) if i == 2}
    assert versions["b"][1] == versions["B"][0] and versions["B"][1] is None  # closed when the next one opened
    assert counts(run(m)) == (0, 0, 0)


def test_snapshot_diff_deletes_vanished_keys(target: Target) -> None:
    target.require("snapshot_diff")
    m = target.manifest(_process("snapshot_diff"), "id,v\n1,a\n2,b\n3,c\n")
    run(m)
    target.write("id,v\n1,a\n3,C\n")
    assert counts(run(m)) == (0, 1, 1)
    assert target.rows(m) == [(1, "a"), (3, "C")]


def test_partition_replace_replaces_the_partitions_present(target: Target) -> None:
    target.require("partition_replace")
    m = target.manifest(
        """
        name: p
        source: {connection: inbox, path: data.csv, format: csv}
        sink: {connection: target, table: t, strategy: partition_replace}
        partitions: {column: day, grain: day}
        schema_contract: {columns: {day: {type: date}}}
        """,
        "id,day,v\n1,2026-01-01,a\n2,2026-01-01,b\n3,2026-01-02,c\n",
    )
    run(m)
    target.write("id,day,v\n9,2026-01-01,z\n")
    assert counts(run(m)) == (1, 0, 2)
    assert target.rows(m) == [(3, "c"), (9, "z")]


def test_a_partition_key_loads_one_slice_and_keeps_the_cursor(target: Target) -> None:
    target.require("merge")
    m = target.manifest(
        """
        name: p
        source: {connection: inbox, path: data.csv, format: csv, incremental: {cursor: day}}
        sink: {connection: target, table: t, strategy: merge, primary_key: [id]}
        partitions: {column: day, grain: day, start: "2026-01-01"}
        schema_contract: {columns: {day: {type: date}}}
        """,
        "id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n",
    )
    cursor = run(m).result.state_after["cursor_value"]
    # A late row for an old day: the incremental run skips it, a backfill of that day loads it.
    target.write("id,day,v\n1,2026-01-01,a\n2,2026-01-02,b\n3,2026-01-01,c\n")
    assert run(m).result.inserted_rows == 0
    backfill = run(m, partition="2026-01-01")
    assert (backfill.result.extracted_rows, backfill.result.inserted_rows) == (2, 1)
    assert backfill.result.state_after["cursor_value"] == cursor
    assert target.rows(m) == [(1, "a"), (2, "b"), (3, "c")]
