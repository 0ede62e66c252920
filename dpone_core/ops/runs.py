"""``dpone ops runs``: the runs of a manifest's processes, read straight from the sinks' audit tables.

Every sink kind keeps an audit log (``__dpone__loads`` in a database, the commit objects of a
Parquet or Delta table, the journal of ClickHouse) and exposes it through ``Sink.loads``; this
module reads it through :func:`dpone_core.api.loads`, which opens each sink connection once,
read-only. An audit row exists only for a load that committed, so every row here is
``committed``. Runs that never committed leave no audit row; with ``state_dir`` the job states
``dpone orchestrate run`` wrote for this manifest add them (``failed``, ``blocked``, ``running``...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import OpsReport, markdown_table

KIND = "runs"
STEP = "runs"
STATUSES = ("committed", "failed", "blocked", "running", "started")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-01-01``, an ISO time, or a duration back from now (``90s``, ``30m``, ``24h``, ``7d``, ``2w``).

    >>> parse_since("24h", datetime(2026, 1, 2, tzinfo=UTC)).isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else None
        parsed = parsed or datetime.combine(date.fromisoformat(value), datetime.min.time())
    except ValueError:
        raise ConfigurationError(
            f"--since {text!r} is neither a date, a time nor a duration",
            step=STEP,
            fix="write --since 2026-01-01, --since 2026-01-01T02:00:00Z or --since 24h",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunRow:
    """One run of one process: a committed load (from the audit) or a job state that did not commit."""

    process: str
    run_id: str | None
    status: str
    load_id: str | None = None
    strategy: str | None = None
    target: str | None = None
    rows: dict[str, int | None] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    partition_key: str | None = None
    evidence_sha256: str | None = None
    origin: str = "audit"
    """``audit`` (the sink's audit log) or ``job_state`` (an orchestration state file)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return dict(self.__dict__)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None if value is None else str(value)


def from_audit(row: dict[str, Any]) -> RunRow:
    """A ``__dpone__loads`` row (as ``Sink.loads`` returns it)."""
    names = ("extracted", "staged", "inserted", "updated", "deleted", "quarantined")
    return RunRow(
        process=str(row.get("process")),
        run_id=row.get("run_id"),
        status=str(row.get("status") or "committed"),
        load_id=row.get("load_id"),
        strategy=row.get("strategy"),
        target=row.get("target_table"),
        rows={n: row.get(f"rows_{n}") for n in names},
        started_at=_iso(row.get("started_at")),
        finished_at=_iso(row.get("finished_at")),
        partition_key=row.get("partition_key"),
        evidence_sha256=row.get("evidence_sha256"),
    )


def _job_states(state_dir: Path, manifest: Path, names: dict[str | None, str]) -> list[RunRow]:
    """Uncommitted job states of this manifest's selected processes (committed ones are in the audit)."""
    found = []
    for path in sorted(state_dir.glob("*.job_state.json")) if state_dir.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same = doc.get("manifest_path") and Path(str(doc["manifest_path"])).resolve() == manifest.resolve()
        process = names.get(doc.get("selector"))
        if not same or process is None or doc.get("status") == "committed":
            continue
        found.append(
            RunRow(process, doc.get("run_id"), str(doc.get("status")), started_at=doc.get("created_at"),
                   finished_at=doc.get("updated_at"), origin="job_state")
        )  # fmt: skip
    return found


@dataclass
class RunsQuery:
    """What to list: a manifest, optionally narrowed by selector, time, status or run id."""

    manifest: str
    selector: str | None = None
    since: datetime | None = None
    status: str | None = None
    run_id: str | None = None
    state_dir: str | None = None
    registry_paths: Sequence[str | Path] = ()


def list_runs(query: RunsQuery) -> OpsReport:
    """The runs matching ``query``, newest first; red only when a ``run_id`` was asked for and not found."""
    from dpone_core.api import load, loads
    from dpone_core.manifest.selectors import select

    if query.status is not None and query.status not in STATUSES:
        raise ConfigurationError(f"--status {query.status!r} is not one of {', '.join(STATUSES)}", step=STEP)
    rows = [from_audit(r) for r in loads(query.manifest, query.selector, query.since, query.registry_paths)]
    if query.state_dir:
        selected = select(load(query.manifest, query.registry_paths).manifest, query.selector)
        names: dict[str | None, str] = {p.name: p.name for p in selected}
        if len(selected) == 1:
            names[None] = selected[0].name  # a one-process manifest runs without a selector
        rows += _job_states(Path(query.state_dir), Path(query.manifest), names)
    rows = [r for r in rows if _matches(r, query)]
    rows.sort(key=lambda r: r.finished_at or "", reverse=True)
    blockers = []
    if query.run_id and not rows:
        blockers.append(f"runs.not_found: no run {query.run_id} of the selected processes in the audit")
    filters = {
        "selector": query.selector,
        "since": _iso(query.since),
        "status": query.status,
        "run_id": query.run_id,
        "state_dir": query.state_dir,
    }
    payload = {"manifest": str(query.manifest), "filters": filters, "runs": [r.to_dict() for r in rows]}
    return OpsReport(KIND, payload, blockers)


def _matches(row: RunRow, query: RunsQuery) -> bool:
    if query.status and row.status != query.status:
        return False
    if query.run_id and row.run_id != query.run_id:
        return False
    if query.since and row.origin == "job_state":
        return bool(row.finished_at) and datetime.fromisoformat(str(row.finished_at)) >= query.since
    return True


COLUMNS = ("finished_at", "process", "run_id", "status", "load_id", "inserted", "updated", "quarantined")


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    rows = row.get("rows") or {}
    values = [
        str(row.get("finished_at") or "-")[:19],
        row["process"],
        row.get("run_id") or "-",
        row["status"],
        row.get("load_id") or "-",
        *(str(rows.get(n, "-")) for n in ("inserted", "updated", "quarantined")),
    ]
    return tuple(str(v) for v in values)


def text_lines(report: OpsReport) -> list[str]:
    """A plain-text table (one run a line), or the details of one run when a run id was asked for."""
    runs = report.payload["runs"]
    if report.payload["filters"]["run_id"] and runs:
        lines = []
        for run in runs:
            lines += [f"{k}: {json.dumps(v, default=str) if isinstance(v, dict) else v}" for k, v in run.items()]
            lines.append("")
        return lines
    table = [COLUMNS, *(_cells(r) for r in runs)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return [*lines, f"{len(runs)} runs"]


def to_markdown(report: OpsReport) -> str:
    """The listing as a Markdown table."""
    return (
        "\n".join(
            [
                f"# Runs of {report.payload['manifest']}",
                "",
                *markdown_table(COLUMNS, [_cells(r) for r in report.payload["runs"]]),
            ]
        )
        + "\n"
    )
