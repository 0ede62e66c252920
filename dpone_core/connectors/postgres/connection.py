"""Connecting to Postgres (psycopg2 for control statements, ADBC for bulk COPY) and mapping errors.

Credentials come from the profile's references (``${env:..}``, ``${file:..}``), a libpq service or
libpq's own defaults (``PGPASSWORD``, ``~/.pgpass``). Resolved secrets are registered for redaction
by :func:`dpone_core.connections.profiles.resolved`, and no connection string is ever logged.
Every driver error passes through :func:`translate`, which turns it into one line of
:mod:`dpone_core.errors`: retryable (:class:`TransientError`) or not.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Any

from dpone_core.connections.profile import resolved
from dpone_core.connectors.postgres.profile import PostgresProfile
from dpone_core.errors import (
    ConfigurationError,
    DponeConnectionError,
    DponeError,
    InterruptedRun,
    TerminalError,
    TransientError,
)

TRANSIENT_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock not available (lock_timeout)",
    "57014": "statement canceled (statement_timeout)",  # a cancel by user request is an interrupt
    "57P01": "server shutting down",
    "57P02": "server crashed",
    "57P03": "server starting up",
    "53300": "too many connections",
}
"""SQLSTATEs worth a retry; connection-class errors (08xxx) are transient too."""


def connection_params(profile: PostgresProfile, base_dir: Path, application_name: str) -> dict[str, str]:
    """libpq keyword parameters for the profile (references resolved, timeouts as ``options``)."""
    values = resolved(profile, base_dir)
    params: dict[str, str] = {
        "dbname": str(values["database"]),
        "application_name": application_name[:63],
        "client_encoding": "UTF8",
    }
    for key in ("host", "port", "user", "password", "sslmode", "sslrootcert", "sslcert", "sslkey", "service"):
        value = values.get(key)
        if value not in (None, ""):
            params[key] = str(value)
    params["connect_timeout"] = str(values["connect_timeout_seconds"])
    options = [str(values["options"])] if values.get("options") else []
    # Partition windows, cursors and date_trunc are all UTC in dpone: the session must agree, or a
    # `timestamp` column compares with a UTC bound in the database's own zone. Last, so it wins.
    options.append("-c TimeZone=UTC")
    if values.get("statement_timeout_seconds"):
        options.append(f"-c statement_timeout={int(str(values['statement_timeout_seconds'])) * 1000}")
    if values.get("lock_timeout_seconds"):
        options.append(f"-c lock_timeout={int(str(values['lock_timeout_seconds'])) * 1000}")
    if options:
        params["options"] = " ".join(options)
    return params


def database_identity(params: dict[str, str]) -> str:
    """One server database, whatever connection name or role reaches it (for shared-lock checks)."""
    keys = ("host", "port", "dbname", "service")
    return "postgres://" + "/".join(str(params.get(k, "")) for k in keys)


def conninfo(params: dict[str, str]) -> str:
    """libpq key/value connection string (values quoted), for drivers that take one string.

    >>> conninfo({"host": "db", "password": "it's"})
    "host='db' password='it\\\\'s'"
    """
    return " ".join(f"{key}='{_escape(value)}'" for key, value in params.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def where(params: dict[str, str]) -> str:
    """``user@host:port/db`` for messages (never the password)."""
    host = params.get("host", "localhost")
    user = params.get("user", "")
    return f"{user + '@' if user else ''}{host}:{params.get('port', '5432')}/{params.get('dbname', '')}"


def connect(params: dict[str, str]) -> Any:
    """A psycopg2 connection in autocommit mode (transactions are explicit BEGIN/COMMIT)."""
    try:
        import psycopg2  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "the Postgres connector needs psycopg2 and adbc-driver-postgresql",
            step="connect",
            fix="install dpone[postgres]",
        ) from None
    _install_wait_callback()
    try:
        con = psycopg2.connect(**params)
    except psycopg2.Error as exc:
        raise connect_error(exc, params) from None
    con.autocommit = True
    return con


def adbc_module() -> Any:
    """The ADBC Postgres DB-API module, imported on first use."""
    # The ADBC DB-API registers a polars result backend when polars is importable, importing polars
    # (and through it pandas): ~0.3 s of every run's start for a backend dpone never uses (it reads
    # pyarrow). Hide polars during that first import unless the process has already loaded it, and
    # only in a single-threaded process, where no other code can be importing polars meanwhile.
    hide = (
        "polars" not in sys.modules and "adbc_driver_manager.dbapi" not in sys.modules and threading.active_count() == 1
    )
    if hide:
        sys.modules["polars"] = None  # type: ignore[assignment]
    try:
        import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "the Postgres connector needs adbc-driver-postgresql", step="connect", fix="install dpone[postgres]"
        ) from None
    finally:
        if hide:
            del sys.modules["polars"]
    return adbc


def connect_adbc(params: dict[str, str]) -> Any:
    """An ADBC connection (autocommit) used for binary COPY in and out."""
    adbc = adbc_module()
    try:
        return adbc.connect(conninfo(params), autocommit=True)
    except Exception as exc:  # noqa: BLE001 - every driver error becomes one line
        raise connect_error(exc, params) from None


class AdbcOpener:
    """Opens an ADBC connection on a background thread, so that it is ready when the load needs it.

    Opening one takes ~40 ms on a local server (the driver connects once to read ``pg_type`` and once
    for the session); started when a source or sink is opened for a load, it overlaps the catalog
    and state queries that come first. :meth:`take` hands the connection over, or raises on the
    calling thread the one-line error that opening it met.
    """

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params
        self._adbc = adbc_module()  # imported here, on the caller's thread (see adbc_module)
        self._connection: Any = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._open, name="dpone-adbc-connect", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._connection = self._adbc.connect(conninfo(self._params), autocommit=True)
        except Exception as exc:  # noqa: BLE001 - re-raised by take() on the caller's thread
            self._error = exc

    def take(self) -> Any:
        """The open connection (the caller owns it from now on)."""
        self._thread.join()
        if self._error is not None:
            raise connect_error(self._error, self._params) from None
        connection, self._connection = self._connection, None
        return connection

    def close(self) -> None:
        """Close the connection if nobody took it."""
        self._thread.join()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


class ParallelSessions:
    """Extra ADBC sessions opened at once (a parallel read's ranges); none when any is refused.

    A role's connection limit or a full server refuses one more session where the run's own work:
    the caller then reads on the sessions it has, and ``refused`` says why.
    """

    def __init__(self, sessions: list[Any], refused: str | None) -> None:
        self.sessions, self.refused = sessions, refused

    @classmethod
    def open(cls, params: dict[str, str], count: int) -> ParallelSessions:
        """Open ``count`` sessions concurrently (each ~40 ms on a local server)."""
        openers = [AdbcOpener(params) for _ in range(count)]
        sessions, refused = [], None
        for opener in openers:
            try:
                sessions.append(opener.take())
            except DponeError as exc:
                refused = refused or f"an extra session was refused ({exc})"
        found = cls(sessions, None)
        if refused is not None:
            found.close()
            return cls([], refused)
        return found

    def close(self) -> None:
        """Close every session; never raises."""
        for session in self.sessions:
            with contextlib.suppress(Exception):
                session.close()
        self.sessions = []


def connect_error(exc: BaseException, params: dict[str, str]) -> DponeError:
    """One clear line for a failed connection attempt."""
    text = str(exc).strip()
    target = where(params)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return DponeConnectionError(
            f"Postgres at {target} refused the credentials of user {params.get('user', '(default)')}",
            step="connect",
            fix="check the user and the password reference of the connection",
        )
    if "database" in lowered and "does not exist" in lowered:
        return DponeConnectionError(
            f"database {params.get('dbname')} does not exist on {target}",
            step="connect",
            fix="create the database or fix connection.database",
        )
    if "role" in lowered and "does not exist" in lowered:
        return DponeConnectionError(
            f"user {params.get('user')} does not exist on {target}", step="connect", fix="fix connection.user"
        )
    if any(s in lowered for s in ("connection refused", "could not connect", "timeout expired", "could not translate")):
        return DponeConnectionError(
            f"cannot reach Postgres at {target}",
            step="connect",
            fix="check host and port, and that the server is running and accepts TCP connections",
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return DponeConnectionError(f"cannot connect to Postgres at {target}: {first}", step="connect")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg2 or ADBC error, when the server sent one."""
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    return str(code) if code else None


def translate(exc: BaseException, step: str, what: str) -> DponeError:
    """Map a driver error to dpone's hierarchy: retryable or terminal, one line, object named."""
    if isinstance(exc, DponeError):
        return exc
    code = sqlstate(exc)
    text = str(exc).strip()
    first = _first_line(text)
    if code == "57014" and "user request" in text.lower():
        # Not a timeout: a cancel request. Ours are sent only on Ctrl-C (ADBC's own SIGINT handler
        # cancels its statement without raising KeyboardInterrupt); a pg_cancel_backend() from
        # another session reads the same. Either way someone stopped the load: not worth a retry.
        return InterruptedRun(
            f"{what}: the statement was cancelled (Ctrl-C, or pg_cancel_backend() from another session)",
            step=step,
        )
    if code in TRANSIENT_SQLSTATES or (code or "").startswith("08"):
        reason = TRANSIENT_SQLSTATES.get(code or "", "connection problem")
        return TransientError(f"{what}: {reason}: {first}", step=step, fix="retry the run (retries are safe)")
    if code is None and _is_connection_loss(exc, text):
        return TransientError(
            f"{what}: connection to Postgres lost: {first}", step=step, fix="retry the run (retries are safe)"
        )
    if code == "42P01":
        return TerminalError(f"{what}: {first}", step=step, fix="create the table or fix the table name")
    if code == "42703":
        return TerminalError(f"{what}: {first}", step=step, fix="fix the column list or the query")
    if code == "42501":
        return TerminalError(f"{what}: {first}", step=step, fix="grant the connection's user the privilege")
    if (code or "").startswith("22"):
        return TerminalError(
            f"{what}: {first} (SQLSTATE {code})",
            step=step,
            fix="correct the value in the source, or reject it earlier with a schema_contract rule (e.g. allowed)",
        )
    return TerminalError(f"{what}: {first}" + (f" (SQLSTATE {code})" if code else ""), step=step)


def _first_line(text: str) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            return line.removeprefix("ERROR:").strip()
    return text


def _is_connection_loss(exc: BaseException, text: str) -> bool:
    if getattr(exc, "connection_lost", False):  # reported by another process (the relay's reader)
        return True
    lowered = text.lower()
    markers = (
        "server closed the connection",
        "connection already closed",
        "terminating connection",
        "ssl syscall",
        "could not receive data",
        "could not send data",
        "connection reset",
        "eof detected",
    )
    if any(m in lowered for m in markers):
        return True
    try:
        import psycopg2

        return isinstance(exc, psycopg2.InterfaceError | psycopg2.OperationalError)
    except ImportError:  # pragma: no cover
        return False


def _wait_interruptibly(conn: Any) -> None:
    """psycopg2 wait callback: Ctrl-C cancels the running statement and surfaces as KeyboardInterrupt.

    Without a callback libpq blocks signals until the server answers, so Ctrl-C during a long
    statement would wait for it; with it the statement is cancelled, the caller's rollback runs and
    the CLI exits 130.
    """
    import select

    import psycopg2.extensions as ext  # type: ignore[import-untyped]

    interrupted = False
    while True:
        try:
            state = conn.poll()
            if state == ext.POLL_OK:
                break
            if state == ext.POLL_READ:
                select.select([conn.fileno()], [], [])
            elif state == ext.POLL_WRITE:
                select.select([], [conn.fileno()], [])
            else:  # pragma: no cover - libpq never returns anything else
                raise RuntimeError(f"unexpected poll state {state}")
        except KeyboardInterrupt:
            interrupted = True
            conn.cancel()
        except Exception:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
    if interrupted:
        raise KeyboardInterrupt


_wait_installed = False


def _install_wait_callback() -> None:
    global _wait_installed  # noqa: PLW0603 - psycopg2's wait callback is process-wide by design
    if not _wait_installed:
        import psycopg2.extensions as ext

        ext.set_wait_callback(_wait_interruptibly)
        _wait_installed = True
