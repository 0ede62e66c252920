"""``dpone ops release-orchestrator``: certification pack, SLO gate and release evidence chained to one go / no-go.

With a release config (YAML or JSON; paths relative to its folder)::

    release: v0.7.1
    profile: real_local
    certification_pack:            # required
      pack_id: orders-release
      artifacts: {run: runs/run.json, reconciliation: recon/reconciliation_report.json}
      require: [run, reconciliation]
      expect_cases: [files_to_duckdb__merge]
    slo_gate:                      # optional; real_local requires its result
      metrics: bench/results.json  # a path, or an inline {name: number}
      baseline: bench/baseline.json
      objectives: {"files_to_duckdb__merge@25000.peak_rss_mb": {max: 800}}
    release_evidence:              # optional: more artifacts for the release pack
      artifacts: {reconciliation: recon/reconciliation_report.json}
      require: []

each step writes its own report under the output folder (``certification-pack/``, ``slo-gate/``,
``release-evidence/``); the release pack is given the first two as ``certification_pack`` and
``slo_gate``, pinned to the checksums just written. Without a config, the given artifacts go
straight to the release pack. The decision (``release_decision.json`` / ``.md``) is go only when
every step is green; each blocker is prefixed with its step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dpone_core.errors import ConfigurationError
from dpone_core.ops import certification_pack as cert
from dpone_core.ops import release_pack, slo_gate
from dpone_core.ops.artifacts import (
    ArtifactRef,
    OpsReport,
    WrittenReport,
    json_argument,
    markdown_table,
    write_report,
)

KIND = "release_decision"
STEM = "release_decision"
SECTIONS = {"release", "profile", "certification_pack", "slo_gate", "release_evidence"}


def load_config(path: Path) -> dict[str, Any]:
    """The release config as a dict; unreadable, not a mapping, or an unknown key is a configuration error."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"--config: cannot read {path}: {exc}", fix="give a YAML or JSON file") from exc
    if not isinstance(config, dict) or "certification_pack" not in config:
        raise ConfigurationError(
            f"--config {path}: needs a certification_pack section", fix="see docs/ops/certification.md"
        )
    unknown = sorted(set(config) - SECTIONS)
    if unknown:
        raise ConfigurationError(f"--config {path}: unknown keys {', '.join(unknown)}", fix=f"use {sorted(SECTIONS)}")
    return config


def _refs(section: dict[str, Any], base: Path, where: str) -> list[ArtifactRef]:
    artifacts = section.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise ConfigurationError(f"{where}.artifacts must map names to paths", fix="artifacts: {run: run.json}")
    return [ArtifactRef.parse(f"{name}={base / str(path)}", where) for name, path in artifacts.items()]


def _json_or_path(value: Any, base: Path, where: str) -> Any:
    """An inline object, or a path to a JSON file (relative to the config)."""
    if not isinstance(value, str):
        return value or {}
    return json_argument(f"@{base / value}", where)


def _pinned(name: str, written: WrittenReport) -> ArtifactRef:
    return ArtifactRef(name, written.json_path, written.json_sha256)


def _run_chain(config: dict[str, Any], base: Path, output_dir: Path) -> tuple[list[ArtifactRef], list[dict[str, Any]]]:
    """Certification pack, then the SLO gate if configured: their reports, pinned, and the steps."""
    section = config["certification_pack"]
    pack = cert.certification_pack(
        str(section.get("pack_id") or config.get("release") or "release"),
        _refs(section, base, "certification_pack"),
        list(section.get("require") or []),
        list(section.get("expect_cases") or []),
    )
    written = cert.write_pack(pack, output_dir / "certification-pack")
    refs, steps = [_pinned("certification_pack", written)], [_step("certification_pack", pack, written)]
    if "slo_gate" in config:
        gate_cfg = config["slo_gate"] or {}
        gate = slo_gate.slo_gate(
            *(_json_or_path(gate_cfg.get(k), base, f"slo_gate.{k}") for k in ("metrics", "baseline", "objectives"))
        )
        gate_written = slo_gate.write_gate(gate, output_dir / "slo-gate")
        refs.append(_pinned("slo_gate", gate_written))
        steps.append(_step("slo_gate", gate, gate_written))
    return refs, steps


def _step(name: str, report: OpsReport, written: WrittenReport) -> dict[str, Any]:
    return {
        "step": name,
        "status": report.to_dict()["status"],
        "report": str(written.json_path),
        "sha256": written.json_sha256,
        "blockers": list(report.blockers),
    }


def release_orchestrator(
    output_dir: Path,
    config_path: Path | None = None,
    release: str | None = None,
    profile: str | None = None,
    refs: list[ArtifactRef] | None = None,
    require: list[str] | None = None,
) -> OpsReport:
    """Run the chain (config) or judge the given artifacts, and decide go / no-go."""
    config = load_config(config_path) if config_path else {}
    release = release or str(config.get("release") or "")
    profile = profile or str(config.get("profile") or "")
    if not release or not profile:
        raise ConfigurationError("a release and a profile are needed", fix="--release v0.7.1 --profile real_local")
    steps: list[dict[str, Any]] = []
    extra = list(refs or [])
    if config_path:
        base = config_path.parent
        chained, steps = _run_chain(config, base, output_dir)
        evidence = config.get("release_evidence") or {}
        extra = chained + _refs(evidence, base, "release_evidence") + extra
        require = list(evidence.get("require") or []) + list(require or [])
    pack = release_pack.release_evidence_pack(release, profile, extra, list(require or []))
    steps.append(_step("release_evidence", pack, release_pack.write_pack(pack, output_dir / "release-evidence")))
    blockers = [f"{s['step']}: {b}" for s in steps for b in s["blockers"]]
    payload = {"release": release, "profile": profile, "decision": "no-go" if blockers else "go", "steps": steps}
    return OpsReport(KIND, payload, blockers)


def render_markdown(report: OpsReport) -> str:
    """The decision for release review: go / no-go, each step with its report and blockers."""
    data = report.to_dict()
    lines = [f"# Release {data['release']} ({data['profile']}): {data['decision'].upper()}", ""]
    lines += [f"* BLOCKER {b}" for b in report.blockers] or ["No blockers."]
    rows = [(s["step"], s["status"], s["sha256"], s["report"]) for s in data["steps"]]
    lines += ["", *markdown_table(("step", "status", "sha256", "report"), rows)]
    return "\n".join(lines) + "\n"


def write_decision(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``release_decision.json`` and ``.md`` in ``output_dir``."""
    return write_report(report, output_dir, STEM, render_markdown(report))
