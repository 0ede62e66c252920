"""``COPY ... FROM STDIN`` of raw bytes on a psycopg2 connection, through the libpq it is linked with.

psycopg2 refuses ``copy_expert`` while a wait callback is installed, and dpone installs one for the
whole process (it makes every query interruptible by Ctrl-C). Toggling that callback would race
with other threads' queries, so the relay sends its chunks with libpq's own ``PQputCopyData`` on the
connection's ``PGconn`` (``connection.pgconn_ptr``), inside the transaction psycopg2 opened. The
functions are looked up through psycopg2's own extension module, whose symbol lookup searches the
libraries it was linked with: the ``PGconn`` and the functions always come from the same libpq.

The connection stays non-blocking (as psycopg2 left it) and every wait is a ``select`` in Python, so
Ctrl-C interrupts a COPY the server is stuck in (a lock, a full disk): the statement is cancelled,
its result read, and KeyboardInterrupt raised, as the wait callback does for every other query.
"""

from __future__ import annotations

import ctypes
import functools
import select
from collections.abc import Iterable
from typing import Any

_PGRES_COMMAND_OK = 1
_PGRES_COPY_IN = 4
_PG_DIAG_SQLSTATE = ord("C")


class CopyInError(Exception):
    """The server refused the COPY; ``pgcode`` holds its SQLSTATE (read by ``connection.sqlstate``)."""

    def __init__(self, message: str, pgcode: str | None) -> None:
        super().__init__(message)
        self.pgcode = pgcode


@functools.cache
def libpq() -> Any:
    """The libpq psycopg2 runs on, with the prototypes the relay uses."""
    import psycopg2._psycopg as extension  # type: ignore[import-untyped]

    # dlsym on the extension's handle searches the extension, then the libraries it depends on.
    lib = ctypes.CDLL(extension.__file__)
    void_p, char_p, int_ = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    prototypes: dict[str, tuple[list[Any], Any]] = {
        "PQsendQuery": ([void_p, char_p], int_),
        "PQresultStatus": ([void_p], int_),
        "PQputCopyData": ([void_p, char_p, int_], int_),
        "PQputCopyEnd": ([void_p, char_p], int_),
        "PQflush": ([void_p], int_),
        "PQconsumeInput": ([void_p], int_),
        "PQisBusy": ([void_p], int_),
        "PQsocket": ([void_p], int_),
        "PQgetResult": ([void_p], void_p),
        "PQcmdTuples": ([void_p], char_p),
        "PQresultErrorField": ([void_p, int_], char_p),
        "PQresultErrorMessage": ([void_p], char_p),
        "PQerrorMessage": ([void_p], char_p),
        "PQclear": ([void_p], None),
        "PQisnonblocking": ([void_p], int_),
        "PQsetnonblocking": ([void_p, int_], int_),
    }
    for name, (args, result) in prototypes.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = args, result
    return lib


class _Session:
    """One COPY on a ``PGconn`` in non-blocking mode, with interruptible waits."""

    def __init__(self, connection: Any) -> None:
        self.lib = libpq()
        self.connection = connection
        self.conn = ctypes.c_void_p(connection.pgconn_ptr)
        self.socket = self.lib.PQsocket(self.conn)
        self.interrupted = False

    def wait(self, *, write: bool) -> None:
        """Wait until the socket is ready; Ctrl-C cancels the statement once and is raised at the end."""
        try:
            if write:
                select.select([self.socket], [self.socket], [])
            else:
                select.select([self.socket], [], [])
        except KeyboardInterrupt:
            if not self.interrupted:
                self.interrupted = True
                self.connection.cancel()  # the server ends the statement; its result still arrives

    def flush(self) -> None:
        """Send everything queued (reading input meanwhile, so neither side's buffer fills up)."""
        while True:
            sent = self.lib.PQflush(self.conn)
            if sent == 0:
                return
            if sent < 0:
                raise self.error(None)
            self.wait(write=True)
            if self.lib.PQconsumeInput(self.conn) == 0:
                raise self.error(None)

    def put(self, chunk: bytes) -> bool:
        """Queue one chunk; False when the server already ended the COPY (its error is in the result)."""
        while True:
            queued = self.lib.PQputCopyData(self.conn, chunk, len(chunk))
            if queued == 1:
                self.flush()
                return True
            if queued < 0:
                return False
            self.wait(write=True)
            self.lib.PQconsumeInput(self.conn)

    def end(self, message: bytes | None) -> None:
        """End the COPY (with ``message``, the server discards its rows)."""
        while self.lib.PQputCopyEnd(self.conn, message) == 0:
            self.wait(write=True)
        self.flush()

    def result(self) -> Any:
        """The next result (None when there is none), waiting without blocking signals."""
        while self.lib.PQisBusy(self.conn):
            self.wait(write=False)
            if self.lib.PQconsumeInput(self.conn) == 0:
                break
        return self.lib.PQgetResult(self.conn)

    def drain(self) -> None:
        """Read the results left, so the connection is ready for the next statement."""
        while True:
            result = self.result()
            if not result:
                return
            self.lib.PQclear(result)

    def error(self, result: Any) -> CopyInError:
        lib = self.lib
        text = (lib.PQresultErrorMessage(result) if result else None) or lib.PQerrorMessage(self.conn) or b"COPY failed"
        code = lib.PQresultErrorField(result, _PG_DIAG_SQLSTATE) if result else None
        return CopyInError(text.decode("utf-8", "replace").strip(), code.decode() if code else None)


def copy_in(connection: Any, sql: str, chunks: Iterable[bytes]) -> int:
    """Run ``sql`` (a ``COPY ... FROM STDIN``) and send ``chunks`` as its data; return the rows copied.

    An exception from ``chunks`` (a failed source, Ctrl-C) ends the COPY with an error, so the
    server keeps none of its rows, and is raised again.
    """
    session = _Session(connection)
    lib, conn = session.lib, session.conn
    blocking = not lib.PQisnonblocking(conn)
    if blocking:
        lib.PQsetnonblocking(conn, 1)
    try:
        if not lib.PQsendQuery(conn, sql.encode("utf-8")):
            raise session.error(None)
        session.flush()
        result = session.result()
        if lib.PQresultStatus(result) != _PGRES_COPY_IN:
            refused = session.error(result)
            lib.PQclear(result)
            session.drain()
            raise refused
        lib.PQclear(result)
        failed: BaseException | None = None
        try:
            for chunk in chunks:
                if session.interrupted or not session.put(chunk):
                    break  # the server ended the COPY: its error comes with the result below
        except BaseException as exc:  # noqa: BLE001 - the COPY is ended with an error, then it is re-raised
            failed = exc
            if isinstance(exc, KeyboardInterrupt) and not session.interrupted:
                session.interrupted = True
                connection.cancel()  # the server may be stuck (a lock) and not reading our end
        session.end(b"dpone: the relay stopped" if failed is not None or session.interrupted else None)
        result = session.result()
        status = lib.PQresultStatus(result)
        rows = int(lib.PQcmdTuples(result) or b"0") if status == _PGRES_COMMAND_OK else -1
        error = session.error(result) if status != _PGRES_COMMAND_OK else None
        lib.PQclear(result)
        session.drain()
        if failed is not None:
            raise failed
        if session.interrupted:
            raise KeyboardInterrupt
        if error is not None:
            raise error
        return rows
    finally:
        if blocking:
            lib.PQsetnonblocking(conn, 0)
