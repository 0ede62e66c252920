"""RunReport: the one result every entry point returns, renderable as text, JSON and Markdown."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dpone_core.errors import classify_code
from dpone_core.redaction import redact

RunStatus = Literal["succeeded", "failed", "skipped", "interrupted", "planned", "extracted"]
"""``extracted``: the extract run of a chunked load parked its partition; nothing was committed."""


class ErrorEntry(BaseModel):
    """One error as shown in reports."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    process: str | None = None
    step: str | None = None
    fix: str | None = None
    line: str = Field(description="The one-line form shown to users.")
    retryable: bool = Field(False, description="Another attempt may succeed (a transient error).")
    exit_code: int = Field(1, description="The CLI exit code this error alone means (1, 2 or 130).")

    @model_validator(mode="before")
    @classmethod
    def _classified(cls, data: Any) -> Any:
        """Records that carry only a code take its class's classification."""
        if isinstance(data, dict) and "code" in data and ("retryable" not in data or "exit_code" not in data):
            retryable, exit_code = classify_code(str(data["code"]))
            data = {"retryable": retryable, "exit_code": exit_code, **data}
        return data


class GateVerdict(BaseModel):
    """The outcome of one gate or contract rule in this run."""

    model_config = ConfigDict(frozen=True)

    gate: str = Field(description="contract, evolution, type_compatibility, ddl, ...")
    rule: str = Field(description="Rule id, e.g. 'amount.min' or 'new_columns'.")
    verdict: Literal["passed", "quarantined", "failed", "applied", "skipped"]
    failed_rows: int = 0
    detail: str = ""


class RunResult(BaseModel):
    """Counts, gate verdicts, artifacts and state of one run."""

    model_config = ConfigDict(frozen=True)

    extracted_rows: int = 0
    staged_rows: int = 0
    inserted_rows: int = 0
    updated_rows: int = 0
    deleted_rows: int = 0
    quarantined_rows: int = 0
    write_path: str | None = None
    """How the rows reached the target: ``staged`` (a staging table, then the strategy's SQL),
    ``direct`` (Arrow batches COPYed into the target in the commit's transaction), ``relay``
    (a Postgres source's binary COPY piped into a Postgres target; see docs/postgres.md) or
    ``native`` (the sink's engine read the source's files itself; see docs/connectors/duckdb.md)."""
    errors: list[ErrorEntry] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    duration_seconds: float = 0.0
    step_seconds: dict[str, float] = Field(default_factory=dict)
    gates: list[GateVerdict] = Field(default_factory=list)
    ddl: list[str] = Field(default_factory=list)
    evidence_paths: list[str] = Field(default_factory=list)
    quarantine_paths: list[str] = Field(default_factory=list)
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None
    source: str | None = None
    target: str | None = None
    target_schema: list[dict[str, Any]] = Field(default_factory=list)


class RunReport(BaseModel):
    """What ``dpone run`` / ``dpone_core.run`` returns.

    ``passed`` is True only for a succeeded (or skipped as already committed) run without errors.
    """

    model_config = ConfigDict(frozen=True)

    passed: bool
    status: RunStatus
    process: str | None = None
    run_id: str | None = None
    load_id: str | None = None
    strategy: str | None = None
    attempts: int = 1
    max_attempts: int = 1
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: RunResult = Field(default_factory=RunResult)

    @property
    def exit_code(self) -> int:
        """CLI exit code for this report (0 passed, 1 failed, 2 configuration, 130 interrupted)."""
        if self.passed:
            return 0
        if self.status == "interrupted":
            return 130
        codes = {e.exit_code for e in self.result.errors}
        return 130 if 130 in codes else 2 if 2 in codes else 1

    @property
    def retry_may_help(self) -> bool:
        """A failed run that a scheduler may retry: interrupted, or failed only with transient errors."""
        if self.passed:
            return False
        if self.status == "interrupted":
            return True
        return bool(self.result.errors) and all(e.retryable for e in self.result.errors)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with secrets redacted."""
        return redact(json.dumps(self.model_dump(mode="json"), indent=indent, default=str))

    def summary(self) -> dict[str, Any]:
        """A compact dict for XCom, Dagster metadata and logs."""
        r = self.result
        return {
            "passed": self.passed,
            "status": self.status,
            "process": self.process,
            "run_id": self.run_id,
            "load_id": self.load_id,
            "attempts": self.attempts,
            "extracted_rows": r.extracted_rows,
            "inserted_rows": r.inserted_rows,
            "updated_rows": r.updated_rows,
            "deleted_rows": r.deleted_rows,
            "quarantined_rows": r.quarantined_rows,
            "duration_seconds": round(r.duration_seconds, 3),
            "evidence_paths": list(r.evidence_paths),
            "state_after": r.state_after,
            "errors": [e.line for e in r.errors],
        }

    def to_text(self) -> str:
        """Plain text summary for terminals and logs."""
        r = self.result
        head = f"{'PASSED' if self.passed else 'FAILED'} {self.process or '-'} ({self.status})"
        # A manifest or configuration error stopped the run before any attempt touched data.
        attempts = "" if self.exit_code == 2 else f"attempts={self.attempts}/{self.max_attempts}  "
        lines = [
            head,
            f"  run_id={self.run_id}  load_id={self.load_id}  strategy={self.strategy}  "
            f"{attempts}{r.duration_seconds:.2f}s",
            f"  rows: extracted={r.extracted_rows} inserted={r.inserted_rows} updated={r.updated_rows} "
            f"deleted={r.deleted_rows} quarantined={r.quarantined_rows}",
        ]
        if r.source and r.target:
            lines.append(f"  {r.source} -> {r.target}")
        for gate in r.gates:
            if gate.verdict != "passed":
                lines.append(f"  gate {gate.gate}/{gate.rule}: {gate.verdict} {gate.detail}".rstrip())
        if r.state_after is not None:
            lines.append(f"  state: {_state_text(r.state_before)} -> {_state_text(r.state_after)}")
        lines.extend(f"  evidence: {p}" for p in r.evidence_paths)
        lines.extend(f"  quarantine: {p}" for p in r.quarantine_paths)
        lines.extend(f"  warning: {w}" for w in r.warnings)
        lines.extend(f"  error: {e.line}" for e in r.errors)
        return redact("\n".join(lines))

    def to_markdown(self) -> str:
        """Markdown for runbooks and release notes."""
        r = self.result
        command = "plan" if self.status == "planned" else "run"
        rows = [
            f"# dpone {command}: {self.process} — {'passed' if self.passed else 'failed'}",
            "",
            "| field | value |",
            "|---|---|",
            f"| status | {self.status} |",
            f"| run_id | `{self.run_id}` |",
            f"| load_id | {f'`{self.load_id}`' if self.load_id else '- (nothing committed)'} |",
            f"| strategy | {self.strategy} |",
            f"| attempts | {self.attempts}/{self.max_attempts} |",
            f"| duration | {r.duration_seconds:.2f}s |",
            f"| extracted / inserted / updated / deleted / quarantined | {r.extracted_rows} / "
            f"{r.inserted_rows} / {r.updated_rows} / {r.deleted_rows} / {r.quarantined_rows} |",
            f"| manifest sha256 | `{self.manifest_sha256}` |",
        ]
        if r.gates:
            rows += ["", "## Gates", "", "| gate | rule | verdict | rows | detail |", "|---|---|---|---|---|"]
            rows += [f"| {g.gate} | {g.rule} | {g.verdict} | {g.failed_rows} | {g.detail} |" for g in r.gates]
        if r.errors:
            rows += ["", "## Errors", ""] + [f"- {e.line}" for e in r.errors]
        if r.evidence_paths or r.quarantine_paths:
            rows += ["", "## Artifacts", ""] + [f"- `{p}`" for p in [*r.evidence_paths, *r.quarantine_paths]]
        return redact("\n".join(rows) + "\n")


def _state_text(state: dict[str, Any] | None) -> str:
    """A state row for people: the cursor's value as written, then the run that committed it.

    >>> _state_text({"cursor_column": "ts", "cursor_value": '{"kind": "int", "value": 7}', "run_id": "r1"})
    'ts=7 (run r1)'
    """
    if state is None:
        return "none"
    value = state.get("cursor_value")
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = value
        value = decoded.get("value") if isinstance(decoded, dict) else decoded
    cursor = f"{state.get('cursor_column')}={value}" if state.get("cursor_column") else "no cursor"
    extra = state.get("extra") or {}
    held = f", xmin horizon {extra['xmin_horizon']}" if "xmin_horizon" in extra else ""
    files = extra.get("files")
    if isinstance(files, dict):
        held += f", files modified up to {files.get('watermark')} ({len(files.get('seen') or {})} in the window)"
    return f"{cursor}{held} (run {state.get('run_id')})"
