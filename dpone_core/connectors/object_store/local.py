"""A local directory as a store: keys are ``/``-separated paths below the root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.object_store.store import ObjectInfo
from dpone_core.durable import create_bytes, fsync_dir
from dpone_core.errors import TerminalError

_EVERYTHING = FilePattern("**")


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

    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every file below the folder ``prefix`` (``""``: the whole root), in key order."""
        folder = self.root / prefix if prefix else self.root
        if folder.is_dir():
            yield from self._walk(folder, prefix, _EVERYTHING, None)

    def create(self, key: str, body: bytes) -> bool:
        """Create the file durably unless it exists (hard link of a synced temporary file)."""
        return create_bytes(self.root / key, body)

    def read(self, key: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, keys: list[str]) -> None:
        """Remove files and the folders they leave empty."""
        folders = set()
        for key in keys:
            path = self.root / key
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        for deepest in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            folder = deepest
            while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent

    def open_output(self, key: str) -> pa.NativeFile:
        """A new file at ``key`` (its folder created); fsynced with :meth:`sync`."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        return self.filesystem.open_output_stream(str(path))

    def sync(self, keys: list[str]) -> None:
        """fsync written files and their folders, before a commit names them."""
        for key in keys:
            fd = os.open(self.root / key, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in {(self.root / key).parent for key in keys}:
            fsync_dir(folder)

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


class ScratchStore(LocalStore):
    """A local folder of files one run writes and reads back, and nothing resumes from (no fsync).

    The Delta sink's staging: a killed run abandons it (a later run removes it), so making it
    durable first, 31 MB per 1M rows, bought nothing.
    """

    def sync(self, keys: list[str]) -> None:
        """Nothing: see the class."""
