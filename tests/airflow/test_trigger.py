"""DponeLoadTrigger: serialize -> rebuild round trip, and run() against a real DuckDB audit table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk.module_loading import import_string

import dpone_core
from dpone_provider.triggers.load import DponeLoadTrigger, parse_since


def _first_event(trigger: DponeLoadTrigger, timeout: float = 30) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout))


def test_serialize_round_trip(quickstart: Path) -> None:
    trigger = DponeLoadTrigger(
        manifest=str(quickstart),
        selector="orders",
        since="2026-11-23T00:00:00+00:00",
        registry_paths=["r.yaml"],
        dpone_conn_id="dpone_default",
        poll_interval=0.5,
        timeout_at="2026-11-24T00:00:00+00:00",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "dpone_provider.triggers.load.DponeLoadTrigger"
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "manifest": str(quickstart),
        "selector": "orders",
        "since": "2026-11-23T00:00:00+00:00",
        "registry_paths": ["r.yaml"],
        "dpone_conn_id": "dpone_default",
        "poll_interval": 0.5,
        "timeout_at": "2026-11-24T00:00:00+00:00",
    }


def test_fires_success_once_a_load_commits(quickstart: Path) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    report = dpone_core.run(quickstart, run_id="trigger-test")
    assert report.passed
    classpath, kwargs = DponeLoadTrigger(
        manifest=str(quickstart), selector="orders", since=before.isoformat(), poll_interval=0.1
    ).serialize()
    event = _first_event(import_string(classpath)(**kwargs))
    assert event["status"] == "success"
    assert event["load"]["run_id"] == "trigger-test" and event["load"]["load_id"] == report.load_id
    assert event["load"]["rows_inserted"] == 3835


def test_polls_until_the_load_appears(quickstart: Path) -> None:
    since = datetime.now(UTC).isoformat()

    async def scenario() -> dict[str, Any]:
        trigger = DponeLoadTrigger(manifest=str(quickstart), selector="orders", since=since, poll_interval=0.2)
        waiting = asyncio.ensure_future(_anext(trigger))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # nothing committed yet: still polling
        report = await asyncio.to_thread(dpone_core.run, quickstart, None, "late-load")
        assert report.passed
        return await asyncio.wait_for(waiting, 30)

    event = asyncio.run(scenario())
    assert event["status"] == "success" and event["load"]["run_id"] == "late-load"


async def _anext(trigger: DponeLoadTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


def test_times_out_when_no_load_is_newer(quickstart: Path) -> None:
    assert dpone_core.run(quickstart).passed
    trigger = DponeLoadTrigger(
        manifest=str(quickstart),
        selector="orders",
        since="2999-01-01T00:00:00+00:00",
        poll_interval=0.1,
        timeout_at=(datetime.now(UTC) + timedelta(seconds=0.3)).isoformat(),
    )
    event = _first_event(trigger)
    assert event["status"] == "timeout" and "no committed load of 'orders'" in event["message"]


def test_reports_a_broken_manifest_as_an_error_event(tmp_path: Path) -> None:
    event = _first_event(DponeLoadTrigger(manifest=str(tmp_path / "missing.yaml"), selector="orders"))
    assert event["status"] == "error" and "file not found" in event["message"]


def test_parse_since() -> None:
    assert parse_since(None) is None and parse_since("") is None and parse_since("None") is None
    assert parse_since("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_since("2026-11-23 10:00:00") == datetime(2026, 11, 23, 10, tzinfo=UTC)
