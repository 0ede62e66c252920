"""The ``files`` connection profile: a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from dpone_core.connections.profile import ConnectionProfile, resolved


class FilesProfile(ConnectionProfile):
    """A local directory; source and sink paths are relative to ``root``."""

    type: Literal["files"]
    root: str = Field(".", description="Directory; a relative root resolves against the manifest's folder.")


def files_root(profile: FilesProfile, base_dir: Path) -> Path:
    """The directory, absolute (references resolved, relative to the manifest's folder)."""
    root = Path(str(resolved(profile, base_dir)["root"])).expanduser()
    return root if root.is_absolute() else base_dir / root
