"""DponeLoadSensor: wait until a dpone process has committed a load newer than a point in time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from dpone_provider.triggers.load import DponeLoadTrigger, newest_load, parse_since

if TYPE_CHECKING:
    from airflow.sdk import Context


class DponeLoadSensor(BaseSensorOperator):
    """Succeeds when ``__dpone__loads`` has a committed load of ``selector`` that finished after ``since``.

    The XCom value is that load row (load_id, run_id, row counts, finished_at, ...).

    :param manifest: Manifest path (templated), resolved like DponeRunOperator's.
    :param selector: The process to watch (templated).
    :param since: Lower bound on ``finished_at`` (templated; ISO time). Default
        ``{{ data_interval_end }}``: a load that finished after this DAG run's interval closed.
        Empty or ``None`` (manual runs without an interval) accepts any committed load.
    :param deferrable: Wait in the triggerer (:class:`DponeLoadTrigger`) instead of a worker slot.
        Default: ``[operators] default_deferrable``.
    :param registry_paths: Extra registry files (templated).
    :param dpone_conn_id: Optional ``dpone`` connection.

    ``poke_interval`` and ``timeout`` (seconds) work as for every sensor; when deferred, the trigger
    polls every ``poke_interval`` and gives up at ``timeout`` with ``AirflowSensorTimeout``.

    >>> DponeLoadSensor(task_id="orders_loaded", manifest="orders.yaml", selector="orders")  # doctest: +SKIP
    """

    template_fields: Sequence[str] = ("manifest", "selector", "since", "registry_paths")
    ui_color = "#f4f0e8"

    def __init__(
        self,
        *,
        manifest: str,
        selector: str,
        since: str | None = "{{ data_interval_end }}",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        registry_paths: Sequence[str] = (),
        dpone_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not manifest or not selector:
            raise ValueError("DponeLoadSensor needs manifest and selector (the process to watch)")
        super().__init__(**kwargs)
        self.manifest = str(manifest)
        self.selector = selector
        self.since = since
        self.deferrable = deferrable
        self.registry_paths = list(registry_paths)
        self.dpone_conn_id = dpone_conn_id

    def poke(self, context: Context) -> PokeReturnValue:
        """One check of ``__dpone__loads``; a busy sink counts as not yet."""
        load = newest_load(
            self.manifest, self.selector, parse_since(self.since), self.registry_paths, self.dpone_conn_id
        )
        if load is None:
            self.log.info("no committed load of %s after %s yet", self.selector, self.since)
        return PokeReturnValue(is_done=load is not None, xcom_value=load)

    def execute(self, context: Context) -> Any:
        """Poke once; if not done and deferrable, hand the waiting to :class:`DponeLoadTrigger`."""
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        timeout = timedelta(seconds=float(self.timeout))
        self.defer(
            trigger=DponeLoadTrigger(
                manifest=self.manifest,
                selector=self.selector,
                since=None if parse_since(self.since) is None else str(parse_since(self.since)),
                registry_paths=self.registry_paths,
                dpone_conn_id=self.dpone_conn_id,
                poll_interval=float(self.poke_interval),
                timeout_at=(datetime.now(UTC) + timeout).isoformat(),
            ),
            method_name="execute_complete",
            timeout=timeout + timedelta(seconds=float(self.poke_interval) + 60),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: return the load, or fail (timeout / error)."""
        from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

        status = event.get("status")
        if status == "success":
            self.log.info("committed load found: %s", event.get("load"))
            return event.get("load")
        if status == "timeout":
            raise AirflowSensorTimeout(event.get("message", "timed out waiting for a dpone load"))
        raise AirflowException(event.get("message", "dpone load sensor failed"))
