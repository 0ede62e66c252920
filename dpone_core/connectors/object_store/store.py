"""The store port: objects listed in key order and opened through a ``pyarrow.fs`` filesystem."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa
import pyarrow.fs as pafs

from dpone_core.connectors.object_store.globs import FilePattern


@dataclass(frozen=True)
class ObjectInfo:
    """One object (file) of a store."""

    key: str
    """Path below the store's root, ``/``-separated: what patterns match and state remembers."""
    size: int
    modified: datetime
    """Last modification, timezone-aware UTC."""
    etag: str
    """Changes whenever the content may have changed (S3's ETag; size and mtime for local files)."""


class ObjectStore(Protocol):
    """A local directory or a bucket prefix that file-set sources read from."""

    @property
    def filesystem(self) -> pafs.FileSystem:
        """Opens :meth:`path` for pyarrow's readers."""
        ...

    def objects(self, pattern: FilePattern) -> Iterator[ObjectInfo]:
        """Objects whose key matches ``pattern``, in key order, streamed (never all held at once)."""
        ...

    def path(self, key: str) -> str:
        """``key`` as a path of :attr:`filesystem`."""
        ...

    def uri(self, key: str = "") -> str:
        """``key`` as users write it (``s3://bucket/prefix/key`` or a local path), for messages."""
        ...

    def lineage_name(self, key: str) -> tuple[str, str]:
        """OpenLineage namespace and name of ``key`` (``file`` and a path, or ``s3://bucket`` and a key)."""
        ...


class TableStore(ObjectStore, Protocol):
    """A store a table is written to: data files, and commit objects created at most once."""

    def listing(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a folder ending in ``/``), in key order."""
        ...

    def create(self, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key`` only if no object is there; False when one is (someone else won)."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    def delete(self, keys: list[str]) -> None:
        """Remove objects (missing ones are fine)."""
        ...

    def open_output(self, key: str) -> pa.NativeFile:
        """A stream writing a new object at ``key`` (visible whole when closed)."""
        ...

    def sync(self, keys: list[str]) -> None:
        """Make written objects durable before a commit names them (a no-op on S3)."""
        ...
