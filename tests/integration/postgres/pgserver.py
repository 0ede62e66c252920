"""A disposable PostgreSQL cluster for tests and benchmarks: initdb into a temp dir, start, stop by pid.

Works as root (initdb refuses root, so the cluster runs as the ``postgres`` OS user, created with
``useradd`` when missing) and as an ordinary user (the cluster runs as that user).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin(name: str) -> str:
    """Absolute path of a Postgres server binary (PATH first, then the Debian layout)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in BIN_CANDIDATES:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    raise FileNotFoundError(f"{name} not found: install the postgresql-15 server package")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The OS user the cluster runs as when we are root (created when missing); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "-m", "postgres"], check=True, capture_output=True)
    return "postgres"


@dataclass
class PostgresServer:
    """One running cluster; ``dsn`` and the keyword parameters connect as the superuser."""

    root: Path
    port: int
    password: str
    user: str = "postgres"
    host: str = "127.0.0.1"
    extra_settings: dict[str, str] = field(default_factory=dict)
    _run_as: str | None = None

    @property
    def data_dir(self) -> Path:
        """PGDATA of the cluster."""
        return self.root / "data"

    @property
    def dsn(self) -> str:
        """libpq key/value connection string."""
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname=postgres"

    def _cmd(self, args: list[str]) -> list[str]:
        if self._run_as is None:
            return args
        return ["su", self._run_as, "-s", "/bin/sh", "-c", " ".join(_shell_quote(a) for a in args)]

    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid (None when it is not running)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> PostgresServer:
        """initdb (trust on the socket, scram-sha-256 on TCP) and start; waits until it accepts connections."""
        self._run_as = _server_user()
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        (self.root / "sock").mkdir(exist_ok=True)
        if self._run_as:
            subprocess.run(["chown", "-R", self._run_as, str(self.root)], check=True)
            os.chmod(self.root, 0o755)
        subprocess.run(
            self._cmd(
                [
                    pg_bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        settings = {"listen_addresses": "127.0.0.1", "max_connections": "50", **self.extra_settings}
        opts = f"-p {self.port} -k {self.root / 'sock'} " + " ".join(f"-c {k}={v}" for k, v in settings.items())
        subprocess.run(
            self._cmd(
                [
                    pg_bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def stop(self) -> None:
        """Stop the cluster (pg_ctl fast shutdown, then SIGKILL by pid) and remove its folder."""
        pid = self.pid()
        if pid is not None:
            result = subprocess.run(
                self._cmd([pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"]),
                capture_output=True,
                check=False,
            )
            if result.returncode != 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(prefix: str = "dpone-pg-", settings: dict[str, str] | None = None) -> PostgresServer:
    """Create and start a cluster in a fresh temp dir on a free port (retries once on a port race)."""
    last: Exception | None = None
    for _ in range(3):
        root = Path(tempfile.mkdtemp(prefix=prefix))
        server = PostgresServer(root, free_port(), secrets.token_hex(12), extra_settings=dict(settings or {}))
        try:
            return server.start()
        except subprocess.CalledProcessError as exc:
            last = exc
            log = root / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            last = RuntimeError(f"postgres failed to start: {exc.stderr!r} {detail}")
            server.stop()
    assert last is not None
    raise last


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
