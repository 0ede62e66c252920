"""Evidence files: ``data_contract_evidence.json`` and ``.md``, written before the audit/state commit.

The JSON lists the manifest hash, counts, every gate verdict, the DDL, the state transition and
the sha256 of every artifact (quarantine files and the Markdown twin). The audit row in
``__dpone__loads`` stores the JSON's own sha256, so evidence and audit can be checked against
each other; an evidence file whose load_id has no audit row belongs to a load that never committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_text
from dpone_core.errors import TerminalError
from dpone_core.redaction import redact

EVIDENCE_JSON = "data_contract_evidence.json"
EVIDENCE_MD = "data_contract_evidence.md"


@dataclass(frozen=True)
class EvidenceFiles:
    """Where the evidence went and the JSON's checksum."""

    json_path: Path
    markdown_path: Path
    sha256: str


def _markdown(doc: dict[str, Any]) -> str:
    counts = doc["counts"]
    lines = [
        f"# Data contract evidence: {doc['process']}",
        "",
        f"- status: **{doc['status']}**",
        f"- run_id: `{doc['run_id']}`, load_id: `{doc['load_id']}`",
        f"- manifest: `{doc['manifest_path']}` (sha256 `{doc['manifest_sha256']}`)",
        f"- source: {doc['source']} -> target: {doc['target']} ({doc['strategy']})",
        f"- started {doc['started_at']}, evidence written {doc['written_at']}",
        "",
        "## Counts",
        "",
        "| extracted | staged | inserted | updated | deleted | quarantined |",
        "|---|---|---|---|---|---|",
        f"| {counts['extracted']} | {counts['staged']} | {counts['inserted']} | {counts['updated']} "
        f"| {counts['deleted']} | {counts['quarantined']} |",
        "",
        "## Gate verdicts",
        "",
        "| gate | rule | verdict | rows | detail |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {g['gate']} | {g['rule']} | {g['verdict']} | {g['failed_rows']} | {g['detail']} |" for g in doc["gates"]
    ]
    if doc["ddl"]:
        lines += ["", "## DDL", "", *[f"    {s}" for s in doc["ddl"]]]
    lines += ["", "## Artifacts", ""]
    lines += [f"- `{a['path']}` sha256 `{a['sha256']}` ({a['kind']})" for a in doc["artifacts"]] or ["- none"]
    if doc.get("objects"):
        lines += ["", "## Objects written", "", "| object | rows | bytes | sha256 |", "|---|---|---|---|"]
        lines += [f"| `{o['uri']}` | {o['rows']} | {o['size_bytes']} | `{o['sha256']}` |" for o in doc["objects"]]
    lines += [
        "",
        "## State",
        "",
        f"- before: `{json.dumps(doc['state_before'])}`",
        f"- after: `{json.dumps(doc['state_after'])}`",
        "",
    ]
    return "\n".join(lines)


def write_evidence(output_dir: Path, document: dict[str, Any]) -> EvidenceFiles:
    """Write the Markdown, then the JSON (which carries the Markdown's sha256); return paths and the JSON sha.

    A folder that cannot be written fails the load (inside its transaction, so nothing commits).
    """
    try:
        return _write(output_dir, document)
    except OSError as exc:
        raise TerminalError(
            f"cannot write evidence under {output_dir}: {exc.strerror or exc}",
            step="evidence",
            fix="make runtime_evidence.output_dir a writable folder",
        ) from None


def _write(output_dir: Path, document: dict[str, Any]) -> EvidenceFiles:
    folder = output_dir / document["process"] / document["load_id"]
    folder.mkdir(parents=True, exist_ok=True)
    md_path, json_path = folder / EVIDENCE_MD, folder / EVIDENCE_JSON
    write_text(md_path, redact(_markdown(document)))
    doc = dict(document)
    doc["artifacts"] = [
        *document["artifacts"],
        {"kind": "evidence_markdown", "path": str(md_path), "sha256": sha256_file(md_path)},
    ]
    write_text(json_path, redact(json.dumps(doc, indent=2, default=str, sort_keys=True)))
    return EvidenceFiles(json_path, md_path, sha256_file(json_path))
