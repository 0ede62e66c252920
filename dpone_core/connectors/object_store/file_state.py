"""Incremental reads by file: load only objects not loaded before, with a bounded state.

The state committed with each load is a watermark (the latest modification time of a loaded
file) and the keys and ETags of the files modified within ``lookback`` before it. A file older
than that window is skipped by its time alone; one inside it is skipped when its key and ETag
were loaded already. So a new file, or a file rewritten in place (a new ETag and time), loads
once; a deleted one is simply not listed; and the state holds one window of keys, not every key
ever loaded. The lookback covers objects that appear in a listing later than their modification
time says (an S3 multipart upload is dated when it started).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dpone_core.connectors.object_store.store import ObjectInfo

STATE_KEY = "files"
DEFAULT_LOOKBACK_SECONDS = 3600.0


@dataclass
class FileIncrement:
    """Which files a run reads, and the state to commit once it has read them all."""

    lookback: timedelta
    watermark: datetime | None = None
    seen: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    loaded: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    skipped: int = 0

    @classmethod
    def from_state(cls, committed: dict[str, Any] | None, lookback_seconds: float) -> FileIncrement:
        """The increment after the committed ``extra`` state (None: the first run reads every file)."""
        held = (committed or {}).get(STATE_KEY) or {}
        mark = held.get("watermark")
        seen = {key: (etag, datetime.fromisoformat(at)) for key, (etag, at) in (held.get("seen") or {}).items()}
        return cls(timedelta(seconds=lookback_seconds), datetime.fromisoformat(mark) if mark else None, seen)

    def wants(self, info: ObjectInfo) -> bool:
        """Whether ``info`` is new to the target (counting the ones it is not)."""
        if self.watermark is None:
            return True
        known = self.seen.get(info.key)
        if info.modified < self.watermark - self.lookback or (known is not None and known[0] == info.etag):
            self.skipped += 1
            return False
        return True

    def read(self, info: ObjectInfo) -> None:
        """Remember that every row of ``info`` went into this load."""
        self.loaded[info.key] = (info.etag, info.modified)

    def state(self) -> dict[str, Any]:
        """The state to commit: the new watermark and the window of keys below it."""
        times = [at for _, at in self.loaded.values()]
        mark = max([*times, *([self.watermark] if self.watermark else [])], default=None)
        if mark is None:
            return {STATE_KEY: {"watermark": None, "seen": {}}}
        window = mark - self.lookback
        kept = {**self.seen, **self.loaded}
        seen = {key: [etag, at.isoformat()] for key, (etag, at) in sorted(kept.items()) if at >= window}
        return {STATE_KEY: {"watermark": mark.isoformat(), "seen": seen}}
