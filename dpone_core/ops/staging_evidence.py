"""Validate an object-storage staging manifest before a target loads it.

A staging manifest is any JSON document with an ``objects`` list of ``{uri, size_bytes, sha256}``
(a load's evidence JSON is one). The checks: the list is not empty, every object has a 64-digit
hex sha256 and a positive size, no object is listed twice, and objects on a local disk have those
bytes (size and sha256 are recomputed). Objects on S3 are checked from the list only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dpone_core.durable import sha256_file, write_json, write_text
from dpone_core.errors import ConfigurationError

SHA256 = re.compile(r"^[0-9a-f]{64}$")
SINKS = ("duckdb", "clickhouse", "postgres")
DOUBLE_QUOTE = '"'


class StagedObject(BaseModel):
    """One object of a staging manifest."""

    model_config = ConfigDict(extra="allow")

    uri: str = Field(min_length=1)
    size_bytes: int | None = None
    sha256: str | None = None
    rows: int | None = None


class StagingManifest(BaseModel):
    """The part of a staging manifest (or a load's evidence) this command reads."""

    model_config = ConfigDict(extra="allow")

    objects: list[StagedObject] = Field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One check and its verdict."""

    name: str
    passed: bool
    detail: str


@dataclass
class StagingEvidence:
    """The verdict on a staging manifest, with a native load hint for the target."""

    manifest: str
    sink: str | None
    target_table: str | None
    objects: int
    bytes: int
    checks: list[Check] = field(default_factory=list)
    load_hint: str = ""

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {**asdict(self), "passed": self.passed}


def read_manifest(path: Path) -> StagingManifest:
    """The staging manifest at ``path`` (a one-line error when it cannot be read)."""
    step = "staging-evidence"
    try:
        return StagingManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}", step=step, fix="pass --manifest") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not JSON ({exc.msg})", step=step, fix="pass a JSON file") from None
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ConfigurationError(
            f"{path}: {where}: {exc.errors()[0]['msg']}",
            step=step,
            fix="objects is a list of {uri, size_bytes, sha256}",
        ) from None


def _local_path(uri: str, base: Path) -> Path | None:
    """The file a ``file://`` URI or a plain path names (relative to the manifest), else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # a plain path (or a drive letter)
        path = Path(uri)
        return path if path.is_absolute() else base / path
    return None


def _listed(objects: list[StagedObject]) -> list[Check]:
    bad_sha = [o.uri for o in objects if not (o.sha256 and SHA256.match(o.sha256))]
    bad_size = [o.uri for o in objects if not (o.size_bytes and o.size_bytes > 0)]
    uris = [o.uri for o in objects]
    twice = sorted({u for u in uris if uris.count(u) > 1})
    return [
        Check("objects_present", bool(objects), f"{len(objects)} objects"),
        Check(
            "sha256",
            not bad_sha,
            "every object has a sha256" if not bad_sha else f"missing or not 64 hex digits: {_few(bad_sha)}",
        ),
        Check(
            "size_bytes",
            not bad_size,
            "every size is positive" if not bad_size else f"missing or not positive: {_few(bad_size)}",
        ),
        Check("unique_objects", not twice, "no object listed twice" if not twice else f"listed twice: {_few(twice)}"),
    ]


def _local_bytes(objects: list[StagedObject], base: Path) -> Check:
    """Recompute size and sha256 of the objects on a local disk."""
    local = [(o, p) for o in objects if (p := _local_path(o.uri, base)) is not None]
    if not local:
        return Check("local_bytes", True, "no local objects (remote objects are checked from the list)")
    missing = [o.uri for o, p in local if not p.is_file()]
    wrong = [
        o.uri for o, p in local if p.is_file() and (p.stat().st_size != o.size_bytes or sha256_file(p) != o.sha256)
    ]
    ok = not missing and not wrong
    detail = f"{len(local)} local objects match their size and sha256"
    if not ok:
        detail = "; ".join(
            part for part in (missing and f"missing: {_few(missing)}", wrong and f"bytes differ: {_few(wrong)}") if part
        )
    return Check("local_bytes", ok, detail)


def _few(uris: list[str], shown: int = 3) -> str:
    more = f" and {len(uris) - shown} more" if len(uris) > shown else ""
    return ", ".join(uris[:shown]) + more


def load_hint(sink: str | None, table: str | None, objects: list[StagedObject]) -> str:
    """How the named target loads these objects natively (for review; not run)."""
    name = table or "<target table>"
    literals = ["'" + o.uri.replace("'", "''") + "'" for o in objects]
    shown = ", ".join(literals[:3]) + (", ..." if len(literals) > 3 else "")
    if sink == "duckdb":
        return f"INSERT INTO {_quote(name, DOUBLE_QUOTE)} SELECT * FROM read_parquet([{shown}])"
    if sink == "clickhouse":
        first = literals[0] if literals else "'<uri>'"
        return f"INSERT INTO {_quote(name, '`')} SELECT * FROM s3({first}, 'Parquet') -- once per object"
    if sink == "postgres":
        return "Postgres cannot read object storage itself: load with a dpone process whose source is these objects"
    return "name --sink (duckdb, clickhouse, postgres) for a native load hint"


def _quote(table: str, mark: str) -> str:
    return ".".join(mark + part.replace(mark, mark * 2) + mark for part in table.split("."))


def check_staging(path: Path, sink: str | None = None, target_table: str | None = None) -> StagingEvidence:
    """Run every check on the staging manifest at ``path``."""
    objects = read_manifest(path).objects
    evidence = StagingEvidence(str(path), sink, target_table, len(objects), sum(o.size_bytes or 0 for o in objects))
    evidence.checks = [*_listed(objects), _local_bytes(objects, path.parent)]
    evidence.load_hint = load_hint(sink, target_table, objects)
    return evidence


def to_markdown(evidence: StagingEvidence) -> str:
    """The Markdown report."""
    lines = [
        f"# Staging evidence: {'PASSED' if evidence.passed else 'FAILED'}",
        "",
        f"Manifest `{evidence.manifest}`: {evidence.objects} objects, {evidence.bytes} bytes.",
        "",
        "| check | verdict | detail |",
        "|---|---|---|",
        *(f"| {c.name} | {'ok' if c.passed else 'FAILED'} | {c.detail} |" for c in evidence.checks),
        "",
        f"Native load hint ({evidence.sink or 'no sink named'}): `{evidence.load_hint}`",
        "",
    ]
    return "\n".join(lines)


def write_evidence(evidence: StagingEvidence, output_dir: Path) -> list[Path]:
    """``staging_evidence.md`` and ``staging_evidence.json`` (which holds the Markdown's sha256)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    markdown = output_dir / "staging_evidence.md"
    write_text(markdown, to_markdown(evidence))
    document = {**evidence.to_dict(), "artifacts": {markdown.name: sha256_file(markdown)}}
    report = output_dir / "staging_evidence.json"
    write_json(report, document)
    return [report, markdown]
