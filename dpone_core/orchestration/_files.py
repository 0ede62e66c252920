"""Small file helpers shared by the lock and job-state stores: safe names and atomic JSON writes."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(key: str) -> str:
    """Turn a run id or concurrency key into a file-name stem (no slashes, no leading dot).

    >>> safe_name("orders/2026-06-05 daily")
    'orders_2026-06-05_daily'
    """
    cleaned = _UNSAFE.sub("_", key.strip()).strip("_.")
    if not cleaned:
        raise ValueError(f"{key!r} cannot be used as a file name")
    return cleaned[:200]


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


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` so readers see the old file or the new one, never a torn one.

    The bytes go to a hidden temp file in the same folder, are fsync'ed, then renamed over
    ``path`` (rename is atomic within one file system), and the folder is fsync'ed.

    >>> write_json_atomic(Path("/tmp/dpone_doc.json"), {"a": 1})  # doctest: +SKIP
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()
    temp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any] | None:
    """Parse a JSON object from ``path``; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return document
