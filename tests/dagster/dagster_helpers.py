"""Helpers for the Dagster tests: small manifests written into tmp folders (a uniquely named module)."""

from __future__ import annotations

from pathlib import Path

import yaml

EVENTS_MANIFEST = {
    "version": 1,
    "connections": {
        "inbox": {"type": "files", "root": "data"},
        "warehouse": {"type": "duckdb", "path": "warehouse.duckdb"},
    },
    "processes": [
        {
            "name": "events",
            "description": "Events by day, merged on id.",
            "source": {"connection": "inbox", "path": "events.csv", "format": "csv"},
            "sink": {
                "connection": "warehouse",
                "table": "analytics.events",
                "strategy": "merge",
                "primary_key": ["id"],
            },
            "schema_contract": {
                "enforcement": "strict",
                "columns": {
                    "id": {"type": "int64", "nullable": False},
                    "happened_at": {"type": "timestamp", "tz": "UTC", "nullable": False},
                    "amount": {"type": "float64", "min": 0},
                },
            },
            "partitions": {"column": "happened_at", "grain": "day", "start": "2024-01-01"},
        }
    ],
}


def write_events(folder: Path, days: int = 5, per_day: int = 4) -> Path:
    """A CSV of ``days * per_day`` events from 2024-01-01, plus the partitioned manifest; returns the manifest."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    lines = ["id,happened_at,amount"]
    for day in range(days):
        for i in range(per_day):
            event_id = day * per_day + i + 1
            lines.append(f"{event_id},2024-01-{day + 1:02d}T{(i * 5) % 24:02d}:30:00Z,{event_id * 1.5}")
    (folder / "data" / "events.csv").write_text("\n".join(lines) + "\n")
    manifest = folder / "events.yaml"
    manifest.write_text(yaml.safe_dump(EVENTS_MANIFEST, sort_keys=False))
    return manifest


def edit_manifest(path: Path, **process_updates: object) -> Path:
    """Update the first process of a manifest file in place (a shallow merge per key)."""
    doc = yaml.safe_load(path.read_text())
    process = doc["processes"][0]
    for key, value in process_updates.items():
        if isinstance(value, dict) and isinstance(process.get(key), dict):
            process[key] = {**process[key], **value}
        else:
            process[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
