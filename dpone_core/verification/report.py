"""The result of a standalone table check: one verdict per contract rule and audit check."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dpone_core.redaction import redact
from dpone_core.runtime.report import ErrorEntry, GateVerdict


class TableCheckReport(BaseModel):
    """What ``check_table`` found in one process's target (or one partition of it)."""

    model_config = ConfigDict(frozen=True)

    process: str
    target: str = Field(description="The table checked, as the sink names it.")
    partition: str | None = Field(None, description="The partition key whose slice was checked, if any.")
    checked_rows: int = Field(0, description="Rows of the table (or slice) the contract rules saw.")
    verdicts: list[GateVerdict] = Field(default_factory=list)
    last_load: dict[str, Any] | None = Field(
        None, description="load_id, run_id and finished_at of the newest committed load the audit checks used."
    )
    errors: list[ErrorEntry] = Field(default_factory=list)
    checked_at: datetime

    @property
    def passed(self) -> bool:
        """No error and no failed verdict (skipped checks do not fail a check run)."""
        return not self.errors and all(v.verdict != "failed" for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        """0 passed, 1 a check failed, 2 the check could not run for a configuration reason."""
        if self.passed:
            return 0
        return 2 if any(e.exit_code == 2 for e in self.errors) else 1

    def failed(self) -> list[GateVerdict]:
        """The failed verdicts."""
        return [v for v in self.verdicts if v.verdict == "failed"]

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with secrets redacted."""
        return redact(json.dumps(self.model_dump(mode="json"), indent=indent, default=str))

    def to_text(self) -> str:
        """Plain text: a head line, one line per verdict, the errors."""
        where = f" partition {self.partition}" if self.partition else ""
        verdict = "PASSED" if self.passed else "FAILED"
        head = f"{verdict} check {self.process}{where} ({self.target}, {self.checked_rows} rows)"
        lines = [head]
        for v in self.verdicts:
            rows = f" x{v.failed_rows}" if v.failed_rows else ""
            lines.append(f"  {v.gate}/{v.rule}: {v.verdict}{rows}" + (f" ({v.detail})" if v.detail else ""))
        lines += [f"  {e.line}" for e in self.errors]
        return redact("\n".join(lines))

    def to_markdown(self) -> str:
        """A Markdown table of the verdicts."""
        rows = [
            f"# dpone check: {self.process} — {'passed' if self.passed else 'failed'}",
            "",
            f"Target `{self.target}`"
            + (f", partition `{self.partition}`" if self.partition else "")
            + f", {self.checked_rows} rows.",
            "",
            "| check | verdict | failed rows | detail |",
            "|---|---|---|---|",
        ]
        rows += [f"| {v.gate}/{v.rule} | {v.verdict} | {v.failed_rows} | {v.detail} |" for v in self.verdicts]
        rows += [f"\n**error:** {e.line}" for e in self.errors]
        return redact("\n".join(rows))
