"""``dpone ops evidence-bundle``: the files of an incident (run reports, evidence) in one index.

Each ``--artifact NAME=PATH`` is any file; a run report also brings the evidence and quarantine
files it lists (``result.evidence_paths`` / ``quarantine_paths``, named ``NAME/<file>``). With
``copy`` (the default) the files are copied under ``<output-dir>/files/NAME/`` and each copy's
sha256 is checked against the original; with ``reference`` only the path and sha256 are kept.
The bundle is red when a given file is missing or tampered (a pinned ``#sha256`` or a report's
own checksums no longer match): a red *run* inside it is what an incident is about, not a fault
of the bundle. Files are copied byte for byte (no redaction; dpone's reports and evidence hold
no secret), the index is written redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_bytes
from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import ArtifactRef, OpsReport, WrittenReport, load_artifact, markdown_table, write_report

KIND = "evidence_bundle"
STEM = "evidence_bundle"
MODES = ("copy", "reference")


@dataclass(frozen=True)
class Entry:
    """One bundled file: where it came from, where it is now, its checksum and status."""

    name: str
    source: str
    status: str
    sha256: str | None
    bundled: str | None = None
    detail: str = ""


def _status(ref: ArtifactRef) -> tuple[str, str | None, str, dict[str, Any] | None]:
    """(status, sha256, detail, document): JSON read as an artifact, any other file by its bytes."""
    if ref.path.suffix.lower() == ".json":
        found = load_artifact(ref)
        return found.status, found.sha256, found.detail, found.document
    if not ref.path.is_file():
        return "missing", None, "file not found", None
    sha = sha256_file(ref.path)
    if ref.sha256 and ref.sha256 != sha:
        return "tampered", sha, f"sha256 {sha[:12]}... is not the pinned {ref.sha256[:12]}...", None
    return "present", sha, "", None


def _listed_files(name: str, document: dict[str, Any] | None) -> list[ArtifactRef]:
    """The evidence and quarantine files a run report names, as refs of their own."""
    result = (document or {}).get("result")
    if not isinstance(result, dict):
        return []
    paths = [p for key in ("evidence_paths", "quarantine_paths") for p in result.get(key) or [] if isinstance(p, str)]
    return [ArtifactRef(f"{name}/{Path(p).name}", Path(p)) for p in paths]


def _bundle_one(ref: ArtifactRef, output_dir: Path, mode: str) -> tuple[Entry, dict[str, Any] | None]:
    """The file's entry (copied first in ``copy`` mode) and its JSON document, if it has one."""
    status, sha, detail, document = _status(ref)
    if mode == "reference" or sha is None:
        return Entry(ref.name, str(ref.path), status, sha, None, detail), document
    # Files a run report lists go beside it: files/<report's name>/<file name>.
    target = output_dir / "files" / ref.name.split("/")[0] / ref.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(target, ref.path.read_bytes())
    if sha256_file(target) != sha:
        # The source changed between hashing and copying: the copy proves nothing.
        status, detail = "tampered", "file changed while it was copied"
    return Entry(ref.name, str(ref.path), status, sha, str(target.relative_to(output_dir)), detail), document


def evidence_bundle(refs: list[ArtifactRef], output_dir: Path, mode: str = "copy", bundle_id: str = "") -> OpsReport:
    """Bundle ``refs`` (and the files run reports among them list) into ``output_dir``."""
    if mode not in MODES:
        raise ConfigurationError(f"--mode {mode!r} is not copy or reference", fix="--mode copy")
    if not refs:
        raise ConfigurationError("nothing to bundle", fix="give --artifact NAME=PATH")
    names = [ref.name for ref in refs]
    if len(set(names)) != len(names) or any("/" in n or n in (".", "..") for n in names):
        raise ConfigurationError("--artifact names must be unique and contain no '/'", fix="--artifact run=run.json")
    entries: list[Entry] = []
    for ref in refs:
        entry, document = _bundle_one(ref, output_dir, mode)
        entries.append(entry)
        entries += [_bundle_one(extra, output_dir, mode)[0] for extra in _listed_files(ref.name, document)]
    blockers = [f"file {e.name}: {e.status} ({e.detail})" for e in entries if e.status in ("missing", "tampered")]
    payload = {
        "bundle_id": bundle_id or output_dir.name,
        "mode": mode,
        "files": [vars(e) for e in entries],
        "verdicts": {e.name: e.status for e in entries if e.status in ("green", "red")},
    }
    return OpsReport(KIND, payload, blockers)


def render_markdown(report: OpsReport) -> str:
    """The index for an incident reviewer: every file, its status and checksum."""
    data = report.to_dict()
    lines = [f"# Evidence bundle `{data['bundle_id']}` ({data['mode']})", "", f"**{data['status'].upper()}**", ""]
    lines += [f"* BLOCKER {b}" for b in report.blockers]
    rows = [(f["name"], f["status"], f["sha256"] or "", f["bundled"] or f["source"]) for f in data["files"]]
    lines += markdown_table(("name", "status", "sha256", "file"), rows)
    return "\n".join(lines) + "\n"


def write_bundle(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``evidence_bundle.json`` and ``.md`` (the index) in ``output_dir``."""
    return write_report(report, output_dir, STEM, render_markdown(report))
