"""Opening a ClickHouse client (clickhouse-connect over HTTP, or its chDB backend) and mapping its errors.

Everything dpone sends goes through :class:`ClickHouseClient`: statements with server-side
``{name:Type}`` parameters, Arrow reads and streamed Arrow inserts. Each driver error passes through
:func:`translate`, which makes it one line of :mod:`dpone_core.errors`, retryable or not, naming
the object. The password is resolved only here and registered for redaction; it never appears in
a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from dpone_core.connections.profile import resolved
from dpone_core.connectors.clickhouse.profile import ClickHouseProfile, SettingValue
from dpone_core.errors import (
    ConfigurationError,
    DponeConnectionError,
    DponeError,
    OutOfMemory,
    TerminalError,
    TransientError,
)

TRANSIENT_CODES = {
    159: "timeout exceeded",
    164: "server is read-only for now",
    202: "too many simultaneous queries",
    209: "socket timeout",
    210: "network error",
    252: "too many parts (inserts faster than merges)",
    242: "table is in read-only mode",
    319: "unknown status of a replicated insert",
    425: "system error",
    999: "Keeper exception",
}
"""Server error codes worth a retry (a retried insert is deduplicated by its token)."""

PRIVILEGE_CODES = {497, 516}
"""ACCESS_DENIED, AUTHENTICATION_FAILED."""

WRITE_SETTINGS: dict[str, SettingValue] = {"async_insert": 0}
"""Sent with every insert: the server default is 1 in recent versions, and an async insert loses
its errors and its atomicity (``../shared/notes/connectors.md`` §1.2). dpone batches itself."""


def _driver() -> Any:
    try:
        import clickhouse_connect
    except ImportError:
        raise ConfigurationError(
            "the clickhouse connector needs clickhouse-connect",
            step="connect",
            fix="pip install 'dpone[clickhouse]'",
        ) from None
    return clickhouse_connect


def endpoint(profile: ClickHouseProfile, base_dir: Path) -> str:
    """Where the profile points, for messages and identities (no credentials)."""
    values = resolved(profile, base_dir)
    if profile.interface == "chdb":
        return f"chdb:{chdb_path(profile, base_dir)}"
    port = values.get("port") or profile.default_port()
    return f"{'https' if profile.secure else 'http'}://{values['host']}:{port}"


def chdb_path(profile: ClickHouseProfile, base_dir: Path) -> Path:
    """The chDB data folder, absolute."""
    path = Path(str(resolved(profile, base_dir)["path"])).expanduser()
    return path if path.is_absolute() else base_dir / path


def open_client(profile: ClickHouseProfile, base_dir: Path, *, use_database: bool = False) -> ClickHouseClient:
    """Connect (the HTTP interface probes the server once); a failure is one line naming the server.

    With ``use_database`` unqualified names resolve in the profile's database (a query source); the
    sink qualifies every name and creates missing databases, so it connects without one.
    """
    driver = _driver()
    where = endpoint(profile, base_dir)
    values = resolved(profile, base_dir)
    try:
        if profile.interface == "chdb":
            path = chdb_path(profile, base_dir)
            path.mkdir(parents=True, exist_ok=True)
            raw = driver.get_client(
                interface="chdb", path=str(path), database=profile.database if use_database else None
            )
        else:
            raw = driver.get_client(
                host=str(values["host"]),
                port=int(str(values.get("port") or profile.default_port())),
                username=str(values["user"]),
                password=str(values.get("password") or ""),
                secure=profile.secure,
                verify=profile.verify,
                ca_cert=values.get("ca_cert"),
                compress=_compression(profile.compression),
                connect_timeout=profile.connect_timeout_seconds,
                send_receive_timeout=profile.send_receive_timeout_seconds,
                settings=dict(profile.settings),
                autogenerate_session_id=False,
                database=str(values["database"]) if use_database else None,
            )
    except DponeError:
        raise
    except ImportError as exc:
        raise ConfigurationError(
            f"interface chdb needs the chdb package ({exc})", step="connect", fix="pip install chdb"
        ) from None
    except Exception as exc:  # noqa: BLE001 - every driver failure becomes one line
        raise connect_error(exc, where, str(values["user"])) from None
    return ClickHouseClient(raw, where, dict(profile.settings) if profile.interface == "chdb" else {})


def _compression(value: str | bool) -> str | bool:
    if value in ("none", False):
        return False
    return value


def connect_error(exc: BaseException, where: str, user: str) -> DponeError:
    """One clear line for a failed connection."""
    code = error_code(exc)
    text = _first_line(str(exc))
    if code in PRIVILEGE_CODES or "authentication" in text.lower():
        return DponeConnectionError(
            f"ClickHouse at {where} refused the credentials of user {user}",
            step="connect",
            fix="check the user and the password reference of the connection",
        )
    return DponeConnectionError(
        f"cannot reach ClickHouse at {where}: {text}",
        step="connect",
        fix="check host, port and secure, and that the server is running",
    )


def error_code(exc: BaseException) -> int | None:
    """The server's error code (``Code: 60.``), when it sent one."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    text = str(exc)
    marker = text.find("Code: ")
    if marker >= 0:
        digits = "".join(ch for ch in text[marker + 6 : marker + 12] if ch.isdigit())
        return int(digits) if digits else None
    return None


def translate(exc: BaseException, step: str, what: str) -> DponeError:
    """Map a driver error to dpone's hierarchy: retryable or terminal, one line, object named."""
    if isinstance(exc, DponeError):
        return exc
    code = error_code(exc)
    first = _first_line(str(exc))
    name = type(exc).__name__
    if code in TRANSIENT_CODES:
        return TransientError(
            f"{what}: {TRANSIENT_CODES[code]}: {first}", step=step, fix="retry the run (retries are safe)"
        )
    if code is None and name in {"OperationalError", "StreamFailureError", "StreamCompleteException"}:
        return TransientError(f"{what}: connection to ClickHouse lost: {first}", step=step, fix="retry the run")
    if code == 241:
        return OutOfMemory(
            f"{what}: {first}", step=step, fix="raise max_memory_usage on the server, or load in partitions"
        )
    if code in PRIVILEGE_CODES:
        return TerminalError(f"{what}: {first}", step=step, fix="grant the connection's user the privilege")
    if code in (60, 81):
        return TerminalError(f"{what}: {first}", step=step, fix="create the table or fix the table name")
    if code in (47, 16):
        return TerminalError(f"{what}: {first}", step=step, fix="fix the column list or the query")
    return TerminalError(f"{what}: {first}", step=step)


def _first_line(text: str) -> str:
    # clickhouse-connect wraps the server's message: "Received ClickHouse exception, code: N, server
    # response: <message> (for url http://...)"; the message is what a user needs.
    marker = text.find("server response: ")
    if marker >= 0:
        text = text[marker + len("server response: ") :]
        text = text.split(" (for url ")[0]
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            # The server appends its stack trace and version: the first sentence is the message.
            return line.split(" Stack trace")[0].strip()
    return text


class ClickHouseClient:
    """One clickhouse-connect client; every call maps driver errors (see :func:`translate`)."""

    def __init__(self, raw: Any, where: str, settings: Mapping[str, SettingValue]) -> None:
        self.raw, self.where = raw, where
        self.settings = dict(settings)
        """Profile settings the backend does not apply itself (chDB): merged into each call."""

    def _settings(self, extra: Mapping[str, SettingValue] | None) -> dict[str, SettingValue]:
        return {**self.settings, **(extra or {})}

    def command(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        settings: Mapping[str, SettingValue] | None = None,
        step: str = "finalize",
        what: str = "ClickHouse statement",
    ) -> None:
        """Run a statement that returns no rows."""
        try:
            self.raw.command(sql, parameters=dict(params or {}), settings=self._settings(settings))
        except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
            raise translate(exc, step, what) from None

    def rows(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        step: str = "finalize",
        what: str = "ClickHouse query",
    ) -> list[tuple[Any, ...]]:
        """Run a query and return its (few) rows."""
        try:
            result = self.raw.query(sql, parameters=dict(params or {}), settings=self._settings(None))
        except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
            raise translate(exc, step, what) from None
        return [tuple(row) for row in result.result_rows]

    def arrow(
        self, sql: str, params: Mapping[str, object] | None = None, *, step: str = "extract", what: str = "query"
    ) -> pa.Table:
        """Run a query and return an Arrow table (strings as strings)."""
        try:
            table = self.raw.query_arrow(sql, parameters=dict(params or {}), settings=self._settings(None))
        except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
            raise translate(exc, step, what) from None
        assert isinstance(table, pa.Table)
        return table

    @contextmanager
    def arrow_stream(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        settings: Mapping[str, SettingValue] | None = None,
        step: str = "extract",
        what: str = "query",
    ) -> Iterator[Iterator[pa.RecordBatch]]:
        """Stream a query's result as Arrow batches, one per server block; closed on exit."""
        try:
            stream = self.raw.query_arrow_stream(sql, parameters=dict(params or {}), settings=self._settings(settings))
        except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
            raise translate(exc, step, what) from None
        with stream:
            yield _translated(stream, step, what)

    def insert_stream(
        self,
        table: str,
        columns: Sequence[str],
        body: Iterable[bytes],
        *,
        settings: Mapping[str, SettingValue] | None = None,
        step: str = "stage",
        what: str = "insert",
    ) -> None:
        """One INSERT whose body is an Arrow IPC stream (``FORMAT ArrowStream``), sent as it is produced."""
        try:
            self.raw.raw_insert(
                table,
                list(columns),
                insert_block=iter(body),
                fmt="ArrowStream",
                settings={**self._settings(settings), **WRITE_SETTINGS},
            )
        except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
            raise translate(exc, step, what) from None

    def close(self) -> None:
        """Close the HTTP pool (the chDB engine stays open for the process)."""
        close = getattr(self.raw, "close", None)
        if close is not None and not self.where.startswith("chdb:"):
            with contextlib.suppress(Exception):  # closing is best effort
                close()


def _translated(stream: Iterable[pa.RecordBatch], step: str, what: str) -> Iterator[pa.RecordBatch]:
    try:
        yield from stream
    except Exception as exc:  # noqa: BLE001 - mapped to dpone's errors
        raise translate(exc, step, what) from None
