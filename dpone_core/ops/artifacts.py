"""The artifact model every ``dpone ops`` command shares: written reports, named inputs, verdicts.

A command's result is an :class:`OpsReport`: a kind, a verdict (``passed``), the ``blockers`` that
made it red, and its own payload. :func:`write_report` writes it as ``<stem>.json`` and
``<stem>.md`` (atomically, via :mod:`dpone_core.durable`); the JSON names the Markdown's sha256, so
either file proves the other. Inputs given as ``--artifact NAME=PATH`` are :class:`ArtifactRef`s;
:func:`load_artifact` reads one and says whether it is present, parseable, green and unchanged
(``--require`` / expected checksums). Nothing here writes to a target, and nothing here holds a
secret: payloads are built from reports and manifests whose secrets are references.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_json, write_text
from dpone_core.errors import ConfigurationError
from dpone_core.redaction import redact

SCHEMA_VERSION = 1


@dataclass
class OpsReport:
    """One command's verdict and payload (``passed`` is false when any blocker is named)."""

    kind: str
    """What produced it (``certification_pack``, ``reconciliation``, ...)."""
    payload: dict[str, Any] = field(default_factory=dict)
    blockers: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def passed(self) -> bool:
        """Green: nothing blocks."""
        return not self.blockers

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``passed`` and ``status`` included, for readers that look for either)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "passed": self.passed,
            "status": "green" if self.passed else "red",
            "blockers": list(self.blockers),
            "created_at": self.created_at,
            **self.payload,
        }


@dataclass(frozen=True)
class WrittenReport:
    """Where a report went, and the checksums of its two files."""

    json_path: Path
    markdown_path: Path
    json_sha256: str
    markdown_sha256: str

    def paths(self) -> list[str]:
        """Both paths, as strings (for ``written`` lists)."""
        return [str(self.json_path), str(self.markdown_path)]


def write_report(report: OpsReport, output_dir: Path, stem: str, markdown: str) -> WrittenReport:
    """``<stem>.md`` first, then ``<stem>.json`` carrying the Markdown's sha256 (both redacted)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    md_path = output_dir / f"{stem}.md"
    write_text(md_path, redact(markdown))
    md_sha = sha256_file(md_path)
    document = {**report.to_dict(), "artifacts": {md_path.name: md_sha}}
    json_path = output_dir / f"{stem}.json"
    write_json(json_path, json.loads(redact(json.dumps(document, default=str))))
    return WrittenReport(json_path, md_path, sha256_file(json_path), md_sha)


@dataclass(frozen=True)
class ArtifactRef:
    """``--artifact NAME=PATH`` (optionally ``NAME=PATH#sha256`` to pin the file's checksum)."""

    name: str
    path: Path
    sha256: str | None = None

    @classmethod
    def parse(cls, text: str, step: str) -> ArtifactRef:
        """Parse ``NAME=PATH[#sha256]``; a malformed one is a configuration error naming it."""
        name, sep, rest = text.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise ConfigurationError(
                f"--artifact {text!r} is not NAME=PATH", step=step, fix="write --artifact name=path/to/file.json"
            )
        path, _, pinned = rest.partition("#")
        return cls(name.strip(), Path(path.strip()), pinned.strip().lower() or None)


@dataclass
class LoadedArtifact:
    """An artifact as read: its document (None when unreadable), checksum and status."""

    name: str
    path: str
    present: bool
    sha256: str | None = None
    document: dict[str, Any] | None = None
    status: str = "missing"
    """``green``, ``red``, ``unknown`` (no verdict inside), ``missing``, ``unreadable``, ``tampered``."""
    detail: str = ""

    def summary(self) -> dict[str, Any]:
        """The entry a pack lists (without the document)."""
        data = asdict(self)
        data.pop("document")
        return data


def verdict_of(document: dict[str, Any]) -> str:
    """``green`` / ``red`` from the fields reports carry (``passed``, ``status``, ``ok``), else ``unknown``."""
    for key in ("passed", "ok", "success"):
        if isinstance(document.get(key), bool):
            return "green" if document[key] else "red"
    status = str(document.get("status", "")).lower()
    if status in ("green", "passed", "succeeded", "success", "skipped", "ok"):
        return "green"
    if status in ("red", "failed", "failure", "error", "blocked"):
        return "red"
    return "unknown"


def load_artifact(ref: ArtifactRef) -> LoadedArtifact:
    """Read ``ref``: present, parseable, its verdict, and whether a pinned checksum still matches."""
    found = LoadedArtifact(ref.name, str(ref.path), ref.path.is_file())
    if not found.present:
        found.detail = "file not found"
        return found
    found.sha256 = sha256_file(ref.path)
    if ref.sha256 and ref.sha256 != found.sha256:
        found.status, found.detail = "tampered", f"sha256 {found.sha256[:12]}... is not the pinned {ref.sha256[:12]}..."
        return found
    try:
        document = json.loads(ref.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        found.status, found.detail = "unreadable", f"not JSON: {exc}"
        return found
    if not isinstance(document, dict):
        found.status, found.detail = "unreadable", "not a JSON object"
        return found
    found.document = document
    found.status = verdict_of(document)
    found.detail = _inner_checksums(ref.path, document) or found.detail
    if found.detail:
        found.status = "tampered"
    return found


def _inner_checksums(path: Path, document: dict[str, Any]) -> str:
    """A report's ``artifacts`` checked against the files they name.

    Two forms: an ops report's map ({file name beside it: sha256}) and a load evidence file's list
    ([{path, sha256}], paths absolute or relative to the report). A listed file that is gone is not
    flagged here (files get moved into bundles); one whose bytes changed is.
    """
    listed = document.get("artifacts")
    if isinstance(listed, dict):
        pairs = [(str(name), expected) for name, expected in listed.items()]
    elif isinstance(listed, list):
        pairs = [(str(i.get("path")), i.get("sha256")) for i in listed if isinstance(i, dict) and i.get("path")]
    else:
        return ""
    for name, expected in pairs:
        sibling = path.parent / name
        if isinstance(expected, str) and sibling.is_file() and sha256_file(sibling) != expected:
            return f"{name} changed after the report was written (sha256 differs)"
    return ""


def gather_artifacts(refs: list[ArtifactRef], required: list[str]) -> tuple[list[LoadedArtifact], list[str]]:
    """Load every ref and name the blockers: a required one not green (or ``unknown``), any one tampered.

    ``unknown`` (a readable file without a verdict, e.g. a load's evidence) satisfies ``--require``:
    it is present and unchanged. A tampered file blocks even when not required, since altered
    evidence must never sit in a pack. A duplicate name is a configuration error.
    """
    names = [ref.name for ref in refs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigurationError(f"--artifact {duplicate} is given twice", fix="give each artifact one name")
    loaded = [load_artifact(ref) for ref in refs]
    blockers = [f"artifact {name}: required but not given" for name in required if name not in names]
    for item in loaded:
        if item.status == "tampered" or (item.name in required and item.status not in ("green", "unknown")):
            blockers.append(f"artifact {item.name}: {item.status}" + (f" ({item.detail})" if item.detail else ""))
    return loaded, blockers


def markdown_table(header: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> list[str]:
    """A Markdown table's lines (cells' pipes escaped)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def json_argument(text: str, option: str) -> Any:
    """An option's JSON value, inline or ``@path`` to a file; bad JSON is a configuration error naming it."""
    source = "inline JSON"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{option}: cannot read {path}: {exc}", fix="give @path/to/file.json") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{option}: {source} is not JSON: {exc}", fix=f"give {option} '{{...}}' or @file.json"
        ) from exc
