"""The outcome of one dataflow job: counts, every task's report, and its text/JSON/Markdown forms."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dpone_core.redaction import redact
from dpone_core.runtime.report import RunReport


class ExecutionResult(BaseModel):
    """The outcome of one job: counts, and every task's final :class:`RunReport`."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    pipeline: str
    job_num: int = 1
    job_index: int = 0
    dry_run: bool = False
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    reports: dict[str, RunReport] = Field(default_factory=dict)
    attempts: dict[str, int] = Field(default_factory=dict)
    plan: list[str] = Field(default_factory=list)
    other_shards: list[str] = Field(default_factory=list)
    trace: dict[str, Any] | None = None
    maintenance: list[dict[str, Any]] = Field(default_factory=list)
    started_at: str
    finished_at: str
    duration_seconds: float = 0.0

    @property
    def trace_failed(self) -> bool:
        """A trace was asked for and could not be stored."""
        return self.trace is not None and not self.trace.get("passed", False)

    @property
    def passed(self) -> bool:
        """No task failed, the trace (when asked for) was stored, and the job was not interrupted."""
        return self.failed == 0 and not self.interrupted and not self.trace_failed

    @property
    def exit_code(self) -> int:
        """0 passed, 130 interrupted, 2 when every failure is a configuration error, else 1."""
        if self.interrupted:
            return 130
        if self.passed:
            return 0
        failed = [r for r in self.reports.values() if not r.passed and r.status not in {"skipped", "planned"}]
        return 2 if failed and all(r.exit_code == 2 for r in failed) else 1

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with secrets redacted."""
        return redact(json.dumps(self.model_dump(mode="json"), indent=indent, default=str))

    def to_text(self) -> str:
        """One line per task and a total, for terminals and logs."""
        head = (
            f"{'PASSED' if self.passed else 'FAILED'} job {self.job_id}: total={self.total} "
            f"succeeded={self.succeeded} failed={self.failed} skipped={self.skipped} "
            f"({self.duration_seconds:.2f}s, shard {self.job_index + 1}/{self.job_num})"
        )
        lines = [head]
        for task_id, report in self.reports.items():
            r = report.result
            lines.append(
                f"  {task_id:<32} {report.status:<10} attempts={self.attempts.get(task_id, 0)} "
                f"inserted={r.inserted_rows} updated={r.updated_rows} {r.duration_seconds:.2f}s"
            )
            lines += [f"    error: {e.line}" for e in r.errors]
            lines += [f"    note: {w}" for w in r.warnings if report.status in {"skipped", "planned"}]
        if self.dry_run:
            lines += ["  plan:", *[f"  {line}" for line in self.plan]]
        if self.trace:
            lines.append(f"  trace: {self.trace.get('status')} -> {self.trace.get('table')}")
            lines += [f"    error: {e}" for e in self.trace.get("errors", [])]
        lines += [
            f"  maintenance {m['connection']}: {m['status']} {' ; '.join(m['statements'])}".rstrip()
            for m in self.maintenance
        ]
        return redact("\n".join(lines))

    def to_markdown(self) -> str:
        """Markdown summary table."""
        rows = [
            f"# dpone stage job {self.job_id} — {'passed' if self.passed else 'failed'}",
            "",
            f"total {self.total}, succeeded {self.succeeded}, failed {self.failed}, skipped {self.skipped}",
            "",
            "| task | status | attempts | inserted | updated | seconds | error |",
            "|---|---|---|---|---|---|---|",
        ]
        for task_id, report in self.reports.items():
            r = report.result
            error = r.errors[0].line if r.errors else ""
            rows.append(
                f"| {task_id} | {report.status} | {self.attempts.get(task_id, 0)} | {r.inserted_rows} | "
                f"{r.updated_rows} | {r.duration_seconds:.2f} | {error} |"
            )
        return redact("\n".join(rows) + "\n")
