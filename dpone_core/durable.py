"""Files dpone commits: one atomic write (a crash leaves the old version or the new one), and checksums.

The bytes go to a hidden temporary file in the same folder, are fsynced, renamed over the target
(atomic within one file system), and the folder is fsynced so the rename itself survives a power
loss. Every artifact dpone commits by a file (job state, commit journals, chunk markers, evidence)
is written through here. Imports nothing of dpone.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename inside it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_beside(path: Path) -> Path:
    """A unique hidden name in ``path``'s folder for writing before :func:`publish`."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def publish(temporary: Path, path: Path) -> None:
    """fsync a fully written ``temporary``, rename it over ``path`` and fsync the folder."""
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably and atomically (creating the folder)."""
    temporary = _written_beside(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_bytes(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` only if nothing is there yet, durably; False when it exists.

    The local counterpart of S3's ``If-None-Match: *`` put: the full content appears at once
    (a hard link of a synced temporary file), and of two writers exactly one creates it.
    """
    temporary = _written_beside(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def _written_beside(path: Path, data: bytes) -> Path:
    """``data`` in a synced temporary file beside ``path`` (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temporary


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` durably and atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, document: Any, *, indent: int | None = 2) -> None:
    """Write ``document`` as JSON (sorted keys, datetimes as text) durably and atomically."""
    write_text(path, json.dumps(document, indent=indent, sort_keys=True, default=str) + "\n")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
