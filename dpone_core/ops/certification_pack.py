"""``dpone ops certification-pack``: named artifacts gathered into one connector certification pack.

Each ``--artifact NAME=PATH`` is read with :func:`~dpone_core.ops.artifacts.load_artifact`; the
pack is red when a ``--require``\\ d artifact is missing, red, unreadable or tampered, when any
artifact is tampered, or when an ``--expect-case`` is not covered. Coverage is read from the
artifacts themselves: case ids ``<source>_to_<sink>__<strategy>`` (a ``case_id`` / ``case`` field,
or strings in a ``cases`` list) and run reports or evidence (``source`` / ``target`` kinds plus
``strategy``). A case found inside a red report or a red case entry counts as failed, not covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpone_core.ops.artifacts import (
    ArtifactRef,
    LoadedArtifact,
    OpsReport,
    WrittenReport,
    gather_artifacts,
    markdown_table,
    verdict_of,
    write_report,
)

KIND = "certification_pack"
STEM = "connector_certification_pack"
CASE_ID = re.compile(r"^(?P<source>[a-z0-9]+(?:_[a-z0-9]+)*?)_to_(?P<sink>[a-z0-9_]+?)__(?P<strategy>[a-z0-9_]+)$")
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class Coverage:
    """Case ids found in the artifacts: covered (in green or verdict-less entries) and failed."""

    covered: set[str]
    failed: set[str]

    def to_dict(self, expected: list[str]) -> dict[str, Any]:
        """The pack's ``coverage`` block (sources, sinks and strategies of the covered cases)."""
        parts = [CASE_ID.match(case) for case in sorted(self.covered)]
        return {
            "cases": sorted(self.covered),
            "failed_cases": sorted(self.failed - self.covered),
            "sources": sorted({m["source"] for m in parts if m}),
            "sinks": sorted({m["sink"] for m in parts if m}),
            "strategies": sorted({m["strategy"] for m in parts if m}),
            "expected": list(expected),
            "missing": [case for case in expected if case not in self.covered],
        }


def case_id(source: str, sink: str, strategy: str) -> str:
    """``<source>_to_<sink>__<strategy>``, the one spelling coverage is compared in."""
    return f"{source}_to_{sink}__{strategy}"


def _kind(value: Any) -> str | None:
    """A connector kind from a report field: ``"files:/path (csv)"`` → ``files``, ``{"kind": ...}`` → it."""
    if isinstance(value, dict):
        value = value.get("kind") or value.get("type") or value.get("connector")
    if not isinstance(value, str):
        return None
    kind = value.split(":", 1)[0].strip().lower()
    return kind if _KIND.match(kind) else None


def _cases_of_node(node: dict[str, Any]) -> list[str]:
    """The case ids one JSON object names itself (not those of its children)."""
    found = [v.split("@", 1)[0] for k in ("case_id", "case") if isinstance(v := node.get(k), str)]
    found += [c.split("@", 1)[0] for c in node.get("cases") or [] if isinstance(c, str)]
    # A run report keeps source/target under "result" and the strategy at the top.
    merged = {**node["result"], **node} if isinstance(node.get("result"), dict) else node
    source, sink = _kind(merged.get("source")), _kind(merged.get("target") or merged.get("sink"))
    strategy = merged.get("strategy")
    if source and sink and isinstance(strategy, str) and _KIND.match(strategy):
        found.append(case_id(source, sink, strategy))
    return [case for case in found if CASE_ID.match(case)]


def coverage_of(documents: list[dict[str, Any]]) -> Coverage:
    """Walk every document; a case in an object whose verdict is red is failed, else covered."""
    coverage = Coverage(set(), set())
    pending: list[Any] = list(documents)
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            target = coverage.failed if verdict_of(node) == "red" else coverage.covered
            target.update(_cases_of_node(node))
            pending.extend(v for v in node.values() if isinstance(v, dict | list))
    return coverage


def certification_pack(
    pack_id: str, refs: list[ArtifactRef], required: list[str], expected_cases: list[str]
) -> OpsReport:
    """Build the pack: every artifact's status and checksum, coverage, and what blocks it."""
    loaded, blockers = gather_artifacts(refs, required)
    # Coverage only from artifacts that may be trusted: a red report's cases are failed ones.
    usable = [a for a in loaded if a.document is not None and a.status != "tampered"]
    coverage = coverage_of([a.document for a in usable if a.status != "red" and a.document])
    in_red = coverage_of([a.document for a in usable if a.status == "red" and a.document])
    coverage.failed |= in_red.covered | in_red.failed
    block = coverage.to_dict(expected_cases)
    blockers += [f"case {case}: expected but not covered" for case in block["missing"]]
    payload = {"pack_id": pack_id, "required": list(required), "items": _items(loaded), "coverage": block}
    return OpsReport(KIND, payload, blockers)


def _items(loaded: list[LoadedArtifact]) -> list[dict[str, Any]]:
    """Each artifact's summary plus the kind its document declares (if any)."""
    return [{**a.summary(), "kind": (a.document or {}).get("kind")} for a in loaded]


def render_markdown(report: OpsReport) -> str:
    """The pack for a reviewer: verdict, blockers, artifacts with checksums, coverage."""
    data = report.to_dict()
    cov = data["coverage"]
    lines = [f"# Connector certification pack `{data['pack_id']}`", "", f"**{data['status'].upper()}**", ""]
    lines += [f"* BLOCKER {b}" for b in report.blockers] or ["No blockers."]
    rows = [
        (i["name"], i["status"], "yes" if i["name"] in data["required"] else "", i["sha256"] or "", i["path"])
        for i in data["items"]
    ]
    lines += ["", "## Artifacts", "", *markdown_table(("name", "status", "required", "sha256", "path"), rows)]
    lines += ["", "## Coverage", ""]
    for key in ("cases", "failed_cases", "sources", "sinks", "strategies", "missing"):
        lines.append(f"* {key}: {', '.join(cov[key]) or '-'}")
    return "\n".join(lines) + "\n"


def write_pack(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``connector_certification_pack.json`` and ``.md`` in ``output_dir``."""
    return write_report(report, output_dir, STEM, render_markdown(report))
