"""``COPY ... FROM STDIN`` of raw bytes on a psycopg2 connection, through the libpq it is linked with.

psycopg2 refuses ``copy_expert`` while a wait callback is installed, and dpone installs one for the
whole process (it makes every query interruptible by Ctrl-C). Toggling that callback would race
with other threads' queries, so the relay sends its chunks with libpq's own ``PQputCopyData`` on the
connection's ``PGconn`` (``connection.pgconn_ptr``), inside the transaction psycopg2 opened. The
functions are looked up through psycopg2's own extension module, whose symbol lookup searches the
libraries it was linked with: the ``PGconn`` and the functions always come from the same libpq.
"""

from __future__ import annotations

import ctypes
import functools
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
        "PQexec": ([void_p, char_p], void_p),
        "PQresultStatus": ([void_p], int_),
        "PQputCopyData": ([void_p, char_p, int_], int_),
        "PQputCopyEnd": ([void_p, char_p], int_),
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


def copy_in(connection: Any, sql: str, chunks: Iterable[bytes]) -> int:
    """Run ``sql`` (a ``COPY ... FROM STDIN``) and send ``chunks`` as its data; return the rows copied.

    An exception from ``chunks`` (a failed source, Ctrl-C) ends the COPY with an error, so the
    server keeps none of its rows, and is raised again.
    """
    lib = libpq()
    conn = ctypes.c_void_p(connection.pgconn_ptr)
    nonblocking = lib.PQisnonblocking(conn)
    if nonblocking:
        lib.PQsetnonblocking(conn, 0)  # psycopg2 makes a connection non-blocking when a wait callback is set
    try:
        result = lib.PQexec(conn, sql.encode("utf-8"))
        status = lib.PQresultStatus(result)
        if status != _PGRES_COPY_IN:
            refused = _result_error(lib, conn, result)
            lib.PQclear(result)
            _drain(lib, conn)
            raise refused
        lib.PQclear(result)
        failed: BaseException | None = None
        try:
            for chunk in chunks:
                if lib.PQputCopyData(conn, chunk, len(chunk)) != 1:
                    break  # the server ended the COPY: its error comes with the result below
        except BaseException as exc:  # noqa: BLE001 - the COPY is ended with an error, then it is re-raised
            failed = exc
        lib.PQputCopyEnd(conn, b"dpone: the relay stopped" if failed is not None else None)
        result = lib.PQgetResult(conn)
        status = lib.PQresultStatus(result)
        rows = int(lib.PQcmdTuples(result) or b"0") if status == _PGRES_COMMAND_OK else -1
        error = _result_error(lib, conn, result) if status != _PGRES_COMMAND_OK else None
        lib.PQclear(result)
        _drain(lib, conn)
        if failed is not None:
            raise failed
        if error is not None:
            raise error
        return rows
    finally:
        if nonblocking:
            lib.PQsetnonblocking(conn, 1)


def _result_error(lib: Any, conn: Any, result: Any) -> CopyInError:
    message = (lib.PQresultErrorMessage(result) if result else None) or lib.PQerrorMessage(conn) or b"COPY failed"
    code = lib.PQresultErrorField(result, _PG_DIAG_SQLSTATE) if result else None
    return CopyInError(message.decode("utf-8", "replace").strip(), code.decode() if code else None)


def _drain(lib: Any, conn: Any) -> None:
    """Read the results left after a COPY, so the connection is ready for the next statement."""
    while True:
        result = lib.PQgetResult(conn)
        if not result:
            return
        lib.PQclear(result)
