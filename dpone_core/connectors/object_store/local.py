"""A local directory as a store: keys are ``/``-separated paths below the root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs

from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.object_store.store import ObjectInfo
from dpone_core.errors import TerminalError


class LocalStore:
    """Files below ``root``, listed by a sorted walk that holds one directory's entries at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filesystem = pafs.LocalFileSystem()

    def objects(self, pattern: FilePattern) -> Iterator[ObjectInfo]:
        """Matching files in key order; a missing or unreadable root is one line naming it."""
        try:
            is_dir = self.root.is_dir()
        except OSError as exc:
            raise TerminalError(
                f"files root {self.root}: {exc.strerror}", step="extract", fix="check the connection's root"
            ) from None
        if not is_dir:
            raise TerminalError(
                f"files root {self.root} does not exist", step="extract", fix="check the connection's root"
            )
        start = pattern.literal_prefix
        base = self.root / start if start else self.root
        if not base.is_dir():
            return
        yield from self._walk(base, start, pattern, pattern.max_depth)

    def _walk(self, folder: Path, prefix: str, pattern: FilePattern, depth: int | None) -> Iterator[ObjectInfo]:
        if depth is not None and depth <= 0:
            return
        try:
            entries = sorted(os.scandir(folder), key=_key_order)
        except OSError as exc:
            raise TerminalError(
                f"cannot list {folder}: {exc.strerror}", step="extract", fix="check the folder's permissions"
            ) from None
        for entry in entries:
            key = prefix + entry.name
            if entry.is_dir():
                yield from self._walk(Path(entry.path), key + "/", pattern, None if depth is None else depth - 1)
            elif entry.is_file() and pattern.matches(key):
                stat = entry.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                yield ObjectInfo(key, stat.st_size, modified, f"{stat.st_size}-{stat.st_mtime_ns}")

    def path(self, key: str) -> str:
        """The file's absolute path."""
        return str(self.root / key)

    def uri(self, key: str = "") -> str:
        """The file's path (the root itself for an empty key)."""
        return str(self.root / key) if key else str(self.root)

    def lineage_name(self, key: str) -> tuple[str, str]:
        """``file`` and the path."""
        return "file", self.uri(key)


def _key_order(entry: os.DirEntry[str]) -> str:
    """Sort as the keys sort (``a.csv`` before ``a/x``), the order an S3 listing gives."""
    return entry.name + "/" if entry.is_dir() else entry.name
