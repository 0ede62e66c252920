"""The quickstart as a user runs it: first load, idempotent second run, one changed row, evidence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from tests.e2e.conftest import query, run_cli, run_json


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_quickstart_end_to_end(quickstart: Path) -> None:
    folder = quickstart.parent
    db = folder / ".dpone" / "warehouse.duckdb"

    first = run_json(quickstart)
    result = first["result"]
    assert first["passed"] and first["status"] == "succeeded"
    assert (result["extracted_rows"], result["inserted_rows"], result["quarantined_rows"]) == (4000, 3835, 165)
    assert query(db, "SELECT count(*) FROM analytics.orders") == [(3835,)]
    # Rows that broke the contract are not in the target.
    assert query(db, "SELECT count(*) FROM analytics.orders WHERE amount < 0 OR status = 'refunded'") == [(0,)]

    # Quarantine: original values and one reason per row.
    (qpath,) = result["quarantine_paths"]
    quarantined = pq.read_table(qpath)
    assert quarantined.num_rows == 165
    reasons = quarantined.column("__dpone_reason").to_pylist()
    assert all(reasons)
    assert "twelve" in quarantined.column("amount").to_pylist()
    assert any(r.startswith("status.allowed") for r in reasons)

    # Evidence: JSON checksum is in the audit row; every artifact checksum matches its file.
    evidence_json = next(p for p in result["evidence_paths"] if p.endswith(".json"))
    evidence = json.loads(Path(evidence_json).read_text())
    assert evidence["manifest_sha256"] == first["manifest_sha256"]
    assert evidence["counts"]["quarantined"] == 165
    # The CSV is the source and the DuckDB table the target, in the JSON and in its Markdown twin.
    assert evidence["source"].startswith("files:") and evidence["target"].startswith("duckdb:"), evidence
    markdown = next(p for p in result["evidence_paths"] if p.endswith(".md"))
    assert f"source: {evidence['source']} -> target: {evidence['target']}" in Path(markdown).read_text()
    for artifact in evidence["artifacts"]:
        assert sha(artifact["path"]) == artifact["sha256"]
    (audit_sha,) = query(db, "SELECT evidence_sha256 FROM __dpone__loads")[0]
    assert audit_sha == sha(evidence_json)

    # Second run: nothing new, still passes.
    second = run_json(quickstart)["result"]
    assert (second["extracted_rows"], second["inserted_rows"], second["updated_rows"]) == (0, 0, 0)
    assert query(db, "SELECT count(*) FROM analytics.orders") == [(3835,)]

    # Change one row (amount and updated_at): exactly that row is updated.
    data = folder / "data" / "orders.csv"
    lines = data.read_text().splitlines()
    fields = lines[10].split(",")
    order_id = int(fields[0])
    fields[2] = "999.99"
    fields[5] = "2026-06-01T00:00:00Z"
    lines[10] = ",".join(fields)
    data.write_text("\n".join(lines) + "\n")
    third = run_json(quickstart)["result"]
    assert (third["extracted_rows"], third["inserted_rows"], third["updated_rows"]) == (1, 0, 1)
    assert query(db, f"SELECT amount::VARCHAR FROM analytics.orders WHERE id = {order_id}") == [("999.99",)]
    assert query(db, "SELECT count(*) FROM __dpone__loads WHERE status = 'committed'") == [(3,)]
    cursor = json.loads(query(db, "SELECT cursor_value FROM __dpone__state WHERE process = 'orders'")[0][0])
    assert cursor["value"].startswith("2026-06-01T00:00:00")


def test_target_keeps_key_not_null_and_time_zone(quickstart: Path) -> None:
    run_json(quickstart)
    db = quickstart.parent / ".dpone" / "warehouse.duckdb"
    types = dict(query(db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='orders'"))
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["amount"] == "DECIMAL(18,2)"
    constraints = query(
        db, "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE table_name='orders'"
    )
    assert ("PRIMARY KEY", ["id"]) in constraints
    not_null = {c for t, cols in constraints if t == "NOT NULL" for c in cols}
    assert {"id", "customer_id", "amount", "updated_at"} <= not_null


def test_output_formats(quickstart: Path) -> None:
    text = run_cli("run", str(quickstart))
    assert text.returncode == 0 and text.stdout.startswith("PASSED orders")
    markdown = run_cli("run", str(quickstart), "--format", "markdown")
    assert markdown.returncode == 0 and markdown.stdout.startswith("# dpone run: orders")


def test_plan_and_manifest_commands(quickstart: Path) -> None:
    plan = run_cli("plan", str(quickstart))
    assert plan.returncode == 0
    assert 'CREATE TABLE "analytics"."orders"' in plan.stdout and "PRIMARY KEY" in plan.stdout
    assert not (quickstart.parent / ".dpone" / "quarantine").exists()  # plan read no rows
    assert run_cli("manifest", "validate", str(quickstart)).stdout.startswith("OK:")
    rendered = run_cli("manifest", "render", str(quickstart), "--all")
    assert rendered.returncode == 0 and "new_columns: add" in rendered.stdout
    schema = json.loads(run_cli("manifest", "schema").stdout)
    assert schema["title"] == "dpone manifest" and "processes" in schema["properties"]
