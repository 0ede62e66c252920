"""A ClickHouse HTTP interface for tests, answered by chDB's embedded ClickHouse engine (26.9).

No current ClickHouse server can be installed on these machines (``test-servers.md`` §1), but
chDB carries the real engine. This puts the HTTP protocol clickhouse-connect speaks in front of
it, so tests run the real SQL, types and MergeTree semantics through the real client:

* ``GET|POST /ping`` → ``Ok.``;
* the SQL in the ``query`` URL parameter, in the body, or both (the body appended after a
  newline, as the server does); a multipart form (large bind parameters) is read the same way;
* ``param_<name>`` → server-side ``{name:Type}`` parameters; ``database`` → the default database;
  every other parameter that is not part of the transport → a setting of that request only;
* ``INSERT INTO ... FORMAT X`` followed by data (in the URL or heading the body, which may be
  chunked) → the data streamed to a temporary file, then ``INSERT ... FROM INFILE``;
* errors → HTTP 500, ``Code: N. DB::Exception: ...`` and ``X-ClickHouse-Exception-Code: N``.

Not the real server: one request at a time (a global lock), no sessions (``session_id`` is
ignored, so SET and temporary tables do not outlive a request), no authentication, no
compression (a ``Content-Encoding`` body is refused), results sent whole rather than streamed,
no external data, no progress headers.

With a LOG_FILE, each request appends one JSON line ``{"sql": ..., "seconds": ...}`` (the
statement, or ``/ping``): tests count the round trips a load makes from it.

Run: ``python -m tests.integration.clickhouse.chshim PORT DATA_DIR [LOG_FILE]`` (ready when /ping answers).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "user", "password", "quota_key", "role",
        "session_id", "session_timeout", "session_check", "query_id", "compress", "decompress",
        "enable_http_compression", "wait_end_of_query", "buffer_size", "client_protocol_version",
        "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    }
)  # fmt: skip
"""URL parameters the HTTP layer consumes; everything else (not ``param_``) is a setting."""

NOT_IMPLEMENTED, UNKNOWN_SETTING, STD_EXCEPTION = 48, 115, 1001
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INSERT_HEAD = re.compile(rb"\s*INSERT\s+INTO\s.*?\bFORMAT\s+(\w+)[ \t]*\r?\n", re.IGNORECASE | re.DOTALL)
INSERT_ONLY = re.compile(rb"\s*INSERT\s+INTO\s.*?\bFORMAT\s+(\w+)\s*\Z", re.IGNORECASE | re.DOTALL)
DATA_INSERT = re.compile(
    r"\s*(?P<target>INSERT\s+INTO\s+(?:TABLE\s+)?(?:`[^`]*`|\"[^\"]*\"|[^\s(`\"])+"
    r"(?:\s*\((?:`[^`]*`|[^)`])*\))?)\s*(?P<settings>SETTINGS\s.*)?",
    re.IGNORECASE | re.DOTALL,
)
TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*\Z", re.IGNORECASE)
HEAD_LIMIT = 1 << 20
"""How far into a body an INSERT statement may run before its data starts."""
PIECE = 1 << 20


class ShimError(Exception):
    """A failed request, with the ClickHouse error code and message a server would send."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    @classmethod
    def from_engine(cls, exc: BaseException) -> ShimError:
        """chDB's error text already reads ``Code: N. DB::Exception: ...``: keep it and its code."""
        text = str(exc).strip()
        start = text.find("Code: ")
        found = re.match(r"Code: (\d+)\. (?:DB::Exception: )?", text[start:]) if start >= 0 else None
        if found is None:
            return cls(STD_EXCEPTION, text or type(exc).__name__)
        return cls(int(found.group(1)), text[start + found.end() :])

    def body(self) -> bytes:
        """The response body a server sends for this error."""
        return f"Code: {self.code}. DB::Exception: {self.message}\n".encode()


@dataclass
class Call:
    """What one request asks for, apart from its SQL and data."""

    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    default_format: str = "TabSeparated"
    query: str | None = None
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_fields(cls, fields: dict[str, str], database_header: str | None) -> Call:
        """Sort URL (or form) fields into bind parameters, settings and transport options."""
        call = cls(database=fields.get("database") or database_header, query=fields.get("query"))
        call.default_format = fields.get("default_format") or call.default_format
        call.query_id = fields.get("query_id") or call.query_id
        for name, value in fields.items():
            if name.startswith("param_"):
                call.params[name[6:]] = value
            elif name not in TRANSPORT_PARAMS:
                if not SETTING_NAME.match(name):
                    raise ShimError(UNKNOWN_SETTING, f"Unknown setting '{name}'. (UNKNOWN_SETTING)")
                call.settings[name] = value
        return call


@dataclass
class Outcome:
    """A successful answer: its body, output format (None for a statement without a result) and summary."""

    body: bytes
    fmt: str | None
    summary: dict[str, str]


def quote_string(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A ClickHouse identifier in backticks."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def infile_insert(head: str, fmt: str, path: str) -> str | None:
    """``INSERT INTO t [(cols)] [SETTINGS ..]`` as an INFILE insert of ``path``; None if ``head`` is not one.

    An INSERT ... SELECT or VALUES that happens to contain ``FORMAT`` is not a data insert.
    """
    found = DATA_INSERT.fullmatch(head)
    if found is None:
        return None
    return f"{found['target']} FROM INFILE {quote_string(path)} {found['settings'] or ''} FORMAT {fmt}"


class Engine:
    """chDB's engine over one data folder; every request runs on a fresh connection handle.

    A handle carries the session state (USE, SET), so a fresh one per request scopes the
    request's database and settings to it, as a server does for a request without a session.
    The anchor handle keeps the engine open between requests; the lock runs one at a time.
    """

    def __init__(self, path: Path, log: Path | None = None) -> None:
        import chdb

        self._chdb, self.path = chdb, str(path)
        self.lock = threading.Lock()
        self.anchor = chdb.connect(self.path)
        self.log = log

    def record(self, sql: str, started: float) -> None:
        """Append one request to the log (under the lock, so lines never interleave)."""
        if self.log is None:
            return
        line = json.dumps({"sql": sql, "seconds": round(time.perf_counter() - started, 6)})
        with self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def run(self, sql: str, fmt: str, call: Call) -> Any:
        """Run one statement in ``call``'s database with its settings and parameters."""
        with self.lock:
            started = time.perf_counter()
            conn = self._chdb.connect(self.path)
            try:
                if call.database:
                    conn.query(f"USE {quote_identifier(call.database)}", "TabSeparated")
                for name, value in call.settings.items():
                    conn.query(f"SET {name} = {quote_string(value)}", "TabSeparated")
                return conn.query(sql, fmt, params=call.params)
            except Exception as exc:  # noqa: BLE001 - every engine error becomes a ClickHouse error reply
                raise ShimError.from_engine(exc) from None
            finally:
                conn.close()
                self.record(sql, started)

    def close(self) -> None:
        """Close the engine (flushes its tables)."""
        self.anchor.close()


def summary(result: Any) -> dict[str, str]:
    """The X-ClickHouse-Summary of a chDB result (counts as strings, as the server sends them)."""
    names = {"read_rows": "rows_read", "read_bytes": "bytes_read", "written_rows": "rows_written"}
    names["written_bytes"] = "bytes_written"
    counts = {key: str(int(getattr(result, name, lambda: 0)())) for key, name in names.items()}
    elapsed = int(float(getattr(result, "elapsed", lambda: 0)()) * 1e9)
    return {**counts, "total_rows_to_read": "0", "result_rows": "0", "result_bytes": "0", "elapsed_ns": str(elapsed)}


def run_statement(engine: Engine, sql: str, call: Call) -> Outcome:
    """Run SQL and report its output format only when it produces a result set (as the server does)."""
    embedded = TRAILING_FORMAT.search(sql)
    if embedded is not None:
        result = engine.run(sql, call.default_format, call)
        return Outcome(_bytes(result), embedded.group(1), summary(result))
    if call.default_format in ("TabSeparated", "TSV"):
        # A statement with a result emits at least its names line; DDL emits nothing at all.
        result = engine.run(sql, "TabSeparatedWithNames", call)
        raw = _bytes(result)
        body = raw.split(b"\n", 1)[1] if raw else b""
        return Outcome(body, call.default_format if raw else None, summary(result))
    result = engine.run(sql, call.default_format, call)
    body = _bytes(result)
    return Outcome(body, call.default_format if body else None, summary(result))


def run_insert(engine: Engine, head: str, fmt: str, data: Iterator[bytes], call: Call) -> Outcome | None:
    """Stream the data to a temporary file and insert it with INFILE; None if ``head`` is no data insert."""
    handle, path = tempfile.mkstemp(prefix="chshim-", suffix=".data")
    try:
        sql = infile_insert(head, fmt, path)
        if sql is None:
            return None
        with os.fdopen(handle, "wb") as out:
            handle = -1
            for piece in data:
                out.write(piece)
        result = engine.run(sql, "TabSeparated", call)
        return Outcome(b"", None, summary(result))
    finally:
        if handle >= 0:
            os.close(handle)
        os.unlink(path)


def _bytes(result: Any) -> bytes:
    data = result.bytes() if result is not None else b""
    return bytes(data or b"")


class Handler(BaseHTTPRequestHandler):
    """One HTTP request: parse, run on the engine, answer like the server."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clickhouse-connect's pool expects
    disable_nagle_algorithm = True
    """TCP_NODELAY: the headers and the body go out as two writes, and with Nagle's algorithm the
    body waited for the client's delayed ACK of the headers, about 40 ms on every answer that has
    a body (a SELECT), which a server on the same host does not cost."""
    server: ShimServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read errors from the responses."""

    def do_POST(self) -> None:  # http.server's names
        """A query in the URL or the body, or ping; GET is served the same way."""
        url = urlsplit(self.path)
        body = self._pieces()
        try:
            if url.path in ("/ping", "/ping/"):
                _drain(body)
                with self.server.engine.lock:
                    self.server.engine.record("/ping", time.perf_counter())
                self._reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                return
            if url.path not in ("", "/"):
                _drain(body)
                raise ShimError(NOT_IMPLEMENTED, f"chshim serves only / and /ping, not {url.path}")
            encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                _drain(body)
                raise ShimError(
                    NOT_IMPLEMENTED, f"chshim does not decode Content-Encoding {encoding}: connect with compress=False"
                )
            fields = dict(parse_qsl(url.query, keep_blank_values=True))
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                fields.update(self._form(b"".join(body)))
                body = iter(())
            call = Call.from_fields(fields, self.headers.get("X-ClickHouse-Database"))
            outcome = self._execute(call, body)
        except ShimError as err:
            self._fail(err, body)
            return
        except Exception as exc:  # noqa: BLE001 - a shim bug still answers like a server
            self._fail(ShimError(STD_EXCEPTION, f"chshim: {type(exc).__name__}: {exc}"), body)
            return
        headers = {"X-ClickHouse-Query-Id": call.query_id, "X-ClickHouse-Summary": json.dumps(outcome.summary)}
        if outcome.fmt is not None:
            headers["X-ClickHouse-Format"] = outcome.fmt
        self._reply(200, outcome.body, headers)

    do_GET = do_POST

    def _execute(self, call: Call, body: Iterator[bytes]) -> Outcome:
        engine = self.server.engine
        if call.query is not None:
            query = call.query.encode("utf-8")
            insert = INSERT_ONLY.match(query)
            if insert is not None:
                done = run_insert(engine, _statement(query, insert), insert.group(1).decode(), body, call)
                if done is not None:
                    return done
            rest = b"".join(body)
            return run_statement(engine, (query + (b"\n" + rest if rest else b"")).decode("utf-8"), call)
        head, body = _peek(body)
        insert = INSERT_HEAD.match(head) or INSERT_ONLY.match(head)
        if insert is not None:
            data = _chain(head[insert.end() :], body)
            done = run_insert(engine, _statement(head, insert), insert.group(1).decode(), data, call)
            if done is not None:
                return done
            head, body = head[: insert.end()], data
        return run_statement(engine, (head + b"".join(body)).decode("utf-8"), call)

    def _pieces(self) -> Iterator[bytes]:
        """The request body in pieces, de-chunked; consumed by whoever handles the request."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunks()
        return self._sized(int(self.headers.get("Content-Length") or 0))

    def _sized(self, length: int) -> Iterator[bytes]:
        while length > 0:
            piece = self.rfile.read(min(length, PIECE))
            if not piece:
                return
            length -= len(piece)
            yield piece

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return
            yield from self._sized(size)
            self.rfile.readline()  # the CRLF after each chunk

    def _form(self, body: bytes) -> dict[str, str]:
        """The fields of a multipart form (the client's route for large bind parameters)."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            if part.get_filename():
                raise ShimError(NOT_IMPLEMENTED, "chshim does not take external data (form files)")
            payload = part.get_payload(decode=True) or b""
            fields[str(part.get_param("name", header="content-disposition"))] = payload.decode("utf-8")
        return fields

    def _fail(self, err: ShimError, body: Iterator[bytes]) -> None:
        try:
            _drain(body)
        except Exception:  # noqa: BLE001 - an unreadable body: answer, then drop the connection
            self.close_connection = True
        self._reply(500, err.body(), {"X-ClickHouse-Exception-Code": str(err.code)})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers.setdefault("Content-Type", "text/plain; charset=UTF-8")
        headers["X-ClickHouse-Timezone"] = "UTC"
        headers["X-ClickHouse-Server-Display-Name"] = "chshim"
        headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _peek(body: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """Read enough of a body to see whether it starts with an INSERT's statement line."""
    head = b""
    for piece in body:
        head += piece
        start = head.lstrip()[:6]
        if len(start) == 6 and start.upper() != b"INSERT":
            break
        if INSERT_HEAD.match(head) or len(head) >= HEAD_LIMIT:
            break
    return head, body


def _statement(raw: bytes, insert: re.Match[bytes]) -> str:
    """The INSERT statement before its ``FORMAT X`` clause."""
    return raw[: insert.start(1)].decode("utf-8").rstrip()[: -len("FORMAT")]


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _drain(body: Iterator[bytes]) -> None:
    for _ in body:  # the whole body is read before answering, so the connection stays usable
        pass


class ShimServer(ThreadingHTTPServer):
    """The HTTP server on 127.0.0.1, holding the engine."""

    daemon_threads = True

    def __init__(self, port: int, engine: Engine) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.engine = engine


def main(argv: list[str]) -> int:
    """``chshim PORT DATA_DIR``: serve until SIGTERM or SIGINT."""
    if len(argv) not in (2, 3):
        print("usage: python -m tests.integration.clickhouse.chshim PORT DATA_DIR [LOG_FILE]", file=sys.stderr)
        return 2
    # The engine's timezone is the process's: UTC, as the response header says.
    os.environ["TZ"] = "UTC"
    time.tzset()
    folder = Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    engine = Engine(folder, Path(argv[2]) if len(argv) == 3 else None)
    server = ShimServer(int(argv[0]), engine)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
