"""What ``dpone orchestrate run`` reports: the report model, its text and Markdown, and where it is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dpone_core.orchestration._files import read_json
from dpone_core.orchestration.job_state import Blocker
from dpone_core.redaction import redact

OrchestrationStatus = Literal["committed", "failed", "blocked", "skipped"]

ARTIFACT_JSON = "orchestrated_run.json"
ARTIFACT_MD = "orchestrated_run.md"


class OrchestratedRunReport(BaseModel):
    """What ``dpone orchestrate run`` returns and writes to ``orchestrated_run.json``."""

    model_config = ConfigDict(frozen=True)

    status: OrchestrationStatus
    exit_code: int
    run_id: str
    concurrency_key: str
    resume_policy: str
    manifest_path: str
    selector: str | None = None
    blockers: list[Blocker] = Field(default_factory=list)
    lock: dict[str, Any] = Field(default_factory=dict)
    job_state_path: str | None = None
    job_state: dict[str, Any] | None = None
    run_result: dict[str, Any] | None = None
    errors: list[str] = Field(default_factory=list)
    scheduler_handoff: dict[str, str] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)
    started_at: str
    finished_at: str

    @property
    def passed(self) -> bool:
        """True when the process is committed for this run id (now or earlier)."""
        return self.exit_code == 0

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with secrets redacted."""
        return redact(json.dumps(self.model_dump(mode="json"), indent=indent, default=str))

    def to_text(self) -> str:
        """A few lines for terminals and scheduler logs."""
        lines = [
            f"{self.status.upper()} orchestrated run {self.run_id} (key {self.concurrency_key}, "
            f"policy {self.resume_policy}, exit {self.exit_code})"
        ]
        if self.lock.get("takeover"):
            lines.append(f"  replaced a stale lock: {self.lock['takeover'].get('reason')}")
        lines += [f"  blocker {b.code}: {b.message}" for b in self.blockers]
        if self.run_result:
            lines.append(
                f"  run: {self.run_result.get('status')} attempts={self.run_result.get('attempts')} "
                f"inserted={self.run_result.get('result', {}).get('inserted_rows')}"
            )
        lines += [f"  error: {e}" for e in self.errors]
        if self.job_state_path:
            lines.append(f"  job state: {self.job_state_path}")
        lines += [f"  artifact: {a}" for a in self.artifacts]
        return redact("\n".join(lines))

    def to_markdown(self) -> str:
        """Markdown for incident and release evidence, snippets included."""
        rows = [
            f"# dpone orchestrated run: {self.run_id} — {self.status}",
            "",
            "| field | value |",
            "|---|---|",
            f"| status | {self.status} |",
            f"| exit code | {self.exit_code} |",
            f"| concurrency key | `{self.concurrency_key}` |",
            f"| resume policy | {self.resume_policy} |",
            f"| manifest | `{self.manifest_path}` |",
            f"| selector | {self.selector or '-'} |",
            f"| job state | `{self.job_state_path}` |",
            f"| lock | `{self.lock.get('path')}` acquired={self.lock.get('acquired')} |",
            f"| started / finished | {self.started_at} / {self.finished_at} |",
        ]
        if self.blockers:
            rows += ["", "## Blockers", ""] + [f"- `{b.code}`: {b.message}" for b in self.blockers]
        if self.errors:
            rows += ["", "## Errors", ""] + [f"- {e}" for e in self.errors]
        if self.lock.get("takeover"):
            rows += ["", "## Stale lock replaced", "", f"- {self.lock['takeover'].get('reason')}"]
        if self.run_result:
            result = self.run_result.get("result", {})
            rows += [
                "",
                "## Run",
                "",
                f"- status: {self.run_result.get('status')}, attempts "
                f"{self.run_result.get('attempts')}/{self.run_result.get('max_attempts')}",
                f"- rows extracted / inserted / updated / deleted / quarantined: {result.get('extracted_rows')} / "
                f"{result.get('inserted_rows')} / {result.get('updated_rows')} / {result.get('deleted_rows')} / "
                f"{result.get('quarantined_rows')}",
            ]
        if self.scheduler_handoff:
            rows += ["", "## Scheduler handoff", ""]
            fences = {"kubernetes_cronjob": "yaml", "airflow_dag": "python", "dagster_definitions": "python"}
            for name, snippet in self.scheduler_handoff.items():
                rows += [f"### {name}", "", f"```{fences.get(name, 'sh')}", snippet.rstrip(), "```", ""]
        return redact("\n".join(rows) + "\n")


def artifact_paths(out: Path) -> tuple[Path, Path]:
    """Where this run's artifacts go: ``orchestrated_run.json/.md``, unless those record a commit.

    The artifacts of a committed run are its evidence and never change; a later attempt with the
    same run id (a no-op re-trigger, an approved restart) writes ``orchestrated_run__<time>.json/.md``
    beside them.
    """
    first = out / ARTIFACT_JSON
    try:
        committed = (read_json(first) or {}).get("status") == "committed"
    except ValueError:
        committed = True  # unreadable: keep it for whoever investigates
    if not committed:
        return first, out / ARTIFACT_MD
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    stem = ARTIFACT_JSON.removesuffix(".json")
    return out / f"{stem}__{stamp}.json", out / f"{stem}__{stamp}.md"
