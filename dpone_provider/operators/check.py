"""DponeCheckOperator: re-verify a loaded table against its contract and audit rows, as its own task.

Like common-sql's column and table check operators, but the checks come from the manifest: every
contract rule of the process (types, nulls, ranges, allowed values, regexes, uniqueness), the row
count the committed loads account for, and optionally freshness (``max_age``). It runs
``dpone_core.check`` read-only, so it also checks tables other tools write (the audit checks are
then skipped) and can run long after the load, on its own schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from dpone_provider.hooks.dpone import DponeHook, dumps_safe

if TYPE_CHECKING:
    from airflow.sdk import Context


class DponeCheckOperator(BaseOperator):
    """Check one process's target table now; fail the task when a check fails.

    :param manifest: Path of the manifest YAML (templated; relative to the ``dpone`` connection's
        ``manifest_dir``, else the working directory).
    :param selector: Process name or selector picking exactly one process (templated).
    :param partition: Check only this partition key's slice of the target (templated, mappable).
    :param max_age: Fail when the newest committed load is older than this: seconds, or a duration
        such as ``"6h"`` (templated). Unset: no freshness check.
    :param registry_paths: Extra registry files (templated).
    :param dpone_conn_id: Optional ``dpone`` Airflow connection (manifest folder, registry files).
    :param warn_only: Log failed checks as warnings and succeed (the XCom still carries them).

    >>> DponeCheckOperator(task_id="orders__check", manifest="orders.yaml", max_age="1d")  # doctest: +SKIP
    """

    template_fields: Sequence[str] = ("manifest", "selector", "partition", "max_age", "registry_paths")
    ui_color = "#f4efe8"

    def __init__(
        self,
        *,
        manifest: str,
        selector: str | None = None,
        partition: str | None = None,
        max_age: float | str | None = None,
        registry_paths: Sequence[str] = (),
        dpone_conn_id: str | None = None,
        warn_only: bool = False,
        **kwargs: Any,
    ) -> None:
        if not manifest:
            raise ValueError("DponeCheckOperator needs manifest: the path of a dpone manifest")
        super().__init__(**kwargs)
        self.manifest = str(manifest)
        self.selector = selector
        self.partition = partition
        self.max_age = max_age
        self.registry_paths = list(registry_paths)
        self.dpone_conn_id = dpone_conn_id
        self.warn_only = warn_only

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the checks; return their verdicts (XCom ``return_value``) or fail the task."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        report = self._check()
        for line in report.to_text().splitlines():
            self.log.info("%s", line)
        summary = dumps_safe(
            {
                "passed": report.passed,
                "process": report.process,
                "target": report.target,
                "partition": report.partition,
                "checked_rows": report.checked_rows,
                "last_load": report.last_load,
                "verdicts": [v.model_dump() for v in report.verdicts],
                "errors": [e.line for e in report.errors],
            }
        )
        if report.passed:
            return summary
        if report.errors:
            message = "; ".join(e.line for e in report.errors)
            raise (AirflowException if all(e.retryable for e in report.errors) else AirflowFailException)(message)
        failed = "; ".join(
            f"{v.rule}" + (f" x{v.failed_rows}" if v.failed_rows else "") + (f" ({v.detail})" if v.detail else "")
            for v in report.failed()
        )
        message = f"dpone check {report.process}: {len(report.failed())} checks failed on {report.target}: {failed}"
        if self.warn_only:
            self.log.warning("%s", message)
            return summary
        raise AirflowFailException(message)

    def _check(self) -> Any:
        """``dpone_core.check`` with the manifest's Airflow Connections mapped to profiles."""
        from airflow.sdk.exceptions import AirflowFailException

        import dpone_core
        from dpone_core.errors import ConfigurationError

        hook = DponeHook(self.dpone_conn_id, self.registry_paths)
        try:
            with hook.prepared(self.manifest) as prepared:
                return dpone_core.check(
                    prepared.path,
                    self.selector,
                    partition=self.partition,
                    max_age=self.max_age,
                    registry_paths=prepared.registry_paths,
                    connections=prepared.connections,
                )
        except ConfigurationError as exc:  # an Airflow Connection dpone cannot map: one line, no retry
            raise AirflowFailException(exc.at(process=self.selector).info().one_line()) from None
