"""``dpone ops release-evidence-pack``: the artifacts a release is promoted on, with a go / no-go.

A profile names the artifacts a release of that kind must carry (``--require`` adds more); each
is read with :func:`~dpone_core.ops.artifacts.load_artifact`, so a required one that is missing,
red, unreadable or tampered blocks the release, and any tampered one does.
"""

from __future__ import annotations

from pathlib import Path

from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import (
    ArtifactRef,
    OpsReport,
    WrittenReport,
    gather_artifacts,
    markdown_table,
    write_report,
)

KIND = "release_evidence_pack"
STEM = "release_evidence_pack"
PROFILE_REQUIRES: dict[str, tuple[str, ...]] = {
    # A patch release: the certification pack (coverage and its own artifacts) is enough.
    "local_live": ("certification_pack",),
    # Before a minor or major release: also the benchmark SLO gate and a reconciliation.
    "real_local": ("certification_pack", "slo_gate", "reconciliation"),
}


def required_for(profile: str, extra: list[str]) -> list[str]:
    """The profile's required artifacts followed by ``extra`` (no duplicates)."""
    if profile not in PROFILE_REQUIRES:
        raise ConfigurationError(
            f"--profile {profile!r} is not one of {', '.join(PROFILE_REQUIRES)}", fix="--profile real_local"
        )
    return list(dict.fromkeys([*PROFILE_REQUIRES[profile], *extra]))


def release_evidence_pack(release: str, profile: str, refs: list[ArtifactRef], extra: list[str]) -> OpsReport:
    """Build the pack: each artifact's status and checksum; ``decision`` is go only when nothing blocks."""
    if not release.strip():
        raise ConfigurationError("--release is empty", fix="--release v0.7.1")
    required = required_for(profile, extra)
    loaded, blockers = gather_artifacts(refs, required)
    items = [{**a.summary(), "kind": (a.document or {}).get("kind")} for a in loaded]
    payload = {
        "release": release,
        "profile": profile,
        "required": required,
        "items": items,
        "decision": "no-go" if blockers else "go",
    }
    return OpsReport(KIND, payload, blockers)


def render_markdown(report: OpsReport) -> str:
    """The pack for release review: decision, blockers, artifacts with checksums."""
    data = report.to_dict()
    lines = [f"# Release {data['release']} ({data['profile']}): {data['decision'].upper()}", ""]
    lines += [f"* BLOCKER {b}" for b in report.blockers] or ["No blockers."]
    rows = [
        (i["name"], i["status"], "yes" if i["name"] in data["required"] else "", i["sha256"] or "", i["path"])
        for i in data["items"]
    ]
    lines += ["", *markdown_table(("name", "status", "required", "sha256", "path"), rows)]
    return "\n".join(lines) + "\n"


def write_pack(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``release_evidence_pack.json`` and ``.md`` in ``output_dir``."""
    return write_report(report, output_dir, STEM, render_markdown(report))
