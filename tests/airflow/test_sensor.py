"""DponeLoadSensor in-process: poke, and deferral hands a serialisable trigger to Airflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred

import dpone_core
from dpone_provider.sensors.load import DponeLoadSensor
from dpone_provider.triggers.load import DponeLoadTrigger


def test_poke_sees_a_committed_load(quickstart: Path) -> None:
    sensor = DponeLoadSensor(task_id="s", manifest=str(quickstart), selector="orders", since=None)
    assert sensor.poke({}).is_done is False  # no audit table yet
    report = dpone_core.run(quickstart, run_id="poke")
    result = sensor.poke({})
    assert result.is_done and result.xcom_value["load_id"] == report.load_id


def test_deferrable_sensor_defers_with_the_trigger(quickstart: Path) -> None:
    sensor = DponeLoadSensor(
        task_id="s",
        manifest=str(quickstart),
        selector="orders",
        since="2999-01-01T00:00:00+00:00",
        deferrable=True,
        poke_interval=5,
        timeout=60,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DponeLoadTrigger)
    assert (trigger.selector, trigger.poll_interval, trigger.since) == ("orders", 5.0, "2999-01-01 00:00:00+00:00")
    assert trigger.timeout_at is not None and deferred.value.method_name == "execute_complete"


def test_execute_complete_maps_events() -> None:
    sensor = DponeLoadSensor(task_id="s", manifest="m.yaml", selector="orders")
    assert sensor.execute_complete({}, {"status": "success", "load": {"load_id": "x"}}) == {"load_id": "x"}
    with pytest.raises(AirflowSensorTimeout, match="no load"):
        sensor.execute_complete({}, {"status": "timeout", "message": "no load"})
    with pytest.raises(AirflowException, match="broken"):
        sensor.execute_complete({}, {"status": "error", "message": "broken"})


def test_sensor_needs_a_selector() -> None:
    with pytest.raises(ValueError, match="selector"):
        DponeLoadSensor(task_id="s", manifest="m.yaml", selector="")
