"""``dpone ops`` certification and release commands: thin adapters over the ``dpone_core.ops`` modules.

Each parses its options, calls one module's function (which returns an ``OpsReport``), writes the
report and ends through :func:`~dpone_core.cli.ops_output.finish` (exit 0 green, 1 red, 2 bad input).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dpone_core.cli.ops import ops
from dpone_core.cli.ops_output import FORMAT_OPTION, bad_input, finish
from dpone_core.errors import DponeError
from dpone_core.ops.artifacts import ArtifactRef, OpsReport, WrittenReport, json_argument

__all__ = ["ops"]

ARTIFACT_OPTION = click.option(
    "--artifact", "artifacts", multiple=True, metavar="NAME=PATH[#SHA256]", help="A named input file (repeatable)."
)
REQUIRE_OPTION = click.option(
    "--require", "required", multiple=True, metavar="NAME", help="An artifact that must be green."
)
OUTPUT_DIR = click.option(
    "--output-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Write the report here."
)


def _refs(artifacts: tuple[str, ...], step: str) -> list[ArtifactRef]:
    return [ArtifactRef.parse(text, step) for text in artifacts]


def _run(build: Callable[[], OpsReport], write: Callable[[OpsReport], WrittenReport | None], fmt: str) -> None:
    """Build, write, print and exit; an expected error is one line and exit 2."""
    try:
        report = build()
        written = write(report)
    except DponeError as exc:
        bad_input(exc)
    finish(report, fmt, written, _text)


def _text(report: OpsReport) -> list[str]:
    """One line per item / check / service for the text format."""
    data = report.to_dict()
    rows = data.get("items") or data.get("files") or data.get("checks") or data.get("services") or data.get("steps")
    return [_text_row(row) for row in rows or []]


def _text_row(row: dict[str, Any]) -> str:
    """``name status detail`` of an item, or the same read from a plan's service or an SLO check."""
    if "available" in row:  # a plan's service: whether this machine can start it
        state = "available" if row["available"] else "NOT AVAILABLE"
        row = {**row, "status": state + ("" if row["required"] else " (not required)"), "detail": row["start"]}
    if "passed" in row and "status" not in row:  # an SLO check
        row = {**row, "status": "ok" if row["passed"] else "FAIL"}
    return " ".join(str(row[k]) for k in ("name", "metric", "step", "status", "detail") if row.get(k))


@ops.command("certification-pack")
@click.option("--pack-id", required=True, help="Names the pack (a release, a connector pair).")
@ARTIFACT_OPTION
@REQUIRE_OPTION
@click.option("--expect-case", "expected", multiple=True, metavar="CASE", help="A case id that must be covered.")
@OUTPUT_DIR
@FORMAT_OPTION
def certification_pack(
    pack_id: str,
    artifacts: tuple[str, ...],
    required: tuple[str, ...],
    expected: tuple[str, ...],
    output_dir: Path,
    output_format: str,
) -> None:
    """Aggregate artifacts into connector_certification_pack.json/.md; exit 1 when anything blocks."""
    from dpone_core.ops import certification_pack as module

    def build() -> OpsReport:
        return module.certification_pack(
            pack_id, _refs(artifacts, "certification-pack"), list(required), list(expected)
        )

    _run(build, lambda r: module.write_pack(r, output_dir), output_format)


@ops.command("live-certification-plan")
@click.option("--profile", required=True, type=click.Choice(["local_live", "real_local"]))
@click.option("--row-count", type=int, default=25_000, show_default=True, help="Rows for the benchmark cases.")
@OUTPUT_DIR
@FORMAT_OPTION
def live_certification_plan(profile: str, row_count: int, output_dir: Path, output_format: str) -> None:
    """List the real local services and cases to certify against; exit 1 when a service cannot run here."""
    from dpone_core.ops import live_certification as module

    _run(
        lambda: module.live_certification_plan(profile, row_count),
        lambda r: module.write_plan(r, output_dir),
        output_format,
    )


@ops.command("benchmark-slo-gate")
@click.option(
    "--metrics-json", required=True, metavar="JSON|@FILE", help="{name: number}, or a benchmark results file."
)
@click.option("--baseline-json", default="{}", metavar="JSON|@FILE", help="{name: {value, direction, tolerance}}.")
@click.option("--objectives-json", default="{}", metavar="JSON|@FILE", help="{name: {min, max}}.")
@OUTPUT_DIR
@FORMAT_OPTION
def benchmark_slo_gate(
    metrics_json: str, baseline_json: str, objectives_json: str, output_dir: Path, output_format: str
) -> None:
    """Compare metrics with a baseline and objectives; exit 1 on a regression or a missed objective."""
    from dpone_core.ops import slo_gate as module

    def build() -> OpsReport:
        docs = [
            json_argument(t, o)
            for t, o in (
                (metrics_json, "--metrics-json"),
                (baseline_json, "--baseline-json"),
                (objectives_json, "--objectives-json"),
            )
        ]
        return module.slo_gate(*docs)

    _run(build, lambda r: module.write_gate(r, output_dir), output_format)


@ops.command("release-evidence-pack")
@click.option("--release", required=True, help="The release version (v0.7.1).")
@click.option("--profile", required=True, type=click.Choice(["local_live", "real_local"]))
@ARTIFACT_OPTION
@REQUIRE_OPTION
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), help="Write the pack here.")
@FORMAT_OPTION
def release_evidence_pack(
    release: str,
    profile: str,
    artifacts: tuple[str, ...],
    required: tuple[str, ...],
    output_dir: Path | None,
    output_format: str,
) -> None:
    """Gather a release's artifacts into release_evidence_pack.json/.md; exit 1 (no-go) when anything blocks."""
    from dpone_core.ops import release_pack as module

    def build() -> OpsReport:
        return module.release_evidence_pack(release, profile, _refs(artifacts, "release-evidence-pack"), list(required))

    _run(build, lambda r: module.write_pack(r, output_dir) if output_dir else None, output_format)


@ops.command("evidence-bundle")
@ARTIFACT_OPTION
@click.option("--mode", type=click.Choice(["copy", "reference"]), default="copy", show_default=True)
@click.option("--bundle-id", default="", help="Names the bundle (default: the output folder's name).")
@OUTPUT_DIR
@FORMAT_OPTION
def evidence_bundle(
    artifacts: tuple[str, ...], mode: str, bundle_id: str, output_dir: Path, output_format: str
) -> None:
    """Bundle run reports and evidence for an incident into one checksummed index; exit 1 if a file is missing."""
    from dpone_core.ops import evidence_bundle as module

    def build() -> OpsReport:
        return module.evidence_bundle(_refs(artifacts, "evidence-bundle"), output_dir, mode, bundle_id)

    _run(build, lambda r: module.write_bundle(r, output_dir), output_format)


@ops.command("release-orchestrator")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="A release config.")
@click.option("--release", help="The release version (overrides the config's).")
@click.option("--profile", type=click.Choice(["local_live", "real_local"]), help="Overrides the config's.")
@ARTIFACT_OPTION
@REQUIRE_OPTION
@OUTPUT_DIR
@FORMAT_OPTION
def release_orchestrator(
    config_path: Path | None,
    release: str | None,
    profile: str | None,
    artifacts: tuple[str, ...],
    required: tuple[str, ...],
    output_dir: Path,
    output_format: str,
) -> None:
    """Chain certification pack, SLO gate and release evidence into release_decision.json; exit 1 on no-go."""
    from dpone_core.ops import release_orchestrator as module

    def build() -> OpsReport:
        refs = _refs(artifacts, "release-orchestrator")
        return module.release_orchestrator(output_dir, config_path, release, profile, refs, list(required))

    _run(build, lambda r: module.write_decision(r, output_dir), output_format)
