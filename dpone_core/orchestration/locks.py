"""Local run locks: one JSON file per concurrency key, created atomically, kept alive by a heartbeat.

A lock file ``<lock_dir>/<key>.lock.json`` names its owner (host, pid, process start time, run id,
started, heartbeat, ttl). The holder's heartbeat thread rewrites ``heartbeat_at`` every few seconds
while the run is going, so the TTL only has to cover a frozen or vanished holder, not the length of
the longest load (the original dpone's locks had no heartbeat and expired under long runs).

A lock is *stale* when its heartbeat is older than its TTL, or when its pid is gone on this host
(checked at once, so a ``kill -9`` does not block the next run for a whole TTL). A stale lock is
replaced, and the replacement carries a ``replaced`` record of the previous owner; every takeover
is also appended to ``<key>.takeovers.jsonl``.

Every change to an existing lock file (heartbeat, takeover, release) happens under a short-lived
guard file ``<key>.lock.guard`` so that a heartbeat can never overwrite a lock another process has
just taken over. The locks are for one host or one shared local workspace; they are not a
distributed lock (ARCHITECTURE §4.6: the sink's own lease still stops two commits).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from dpone_core.durable import write_json
from dpone_core.orchestration._files import read_json, safe_name

DEFAULT_TTL_SECONDS = 3600.0
GUARD_STALE_SECONDS = 10.0
UNREADABLE_GRACE_SECONDS = 5.0


def _now_iso(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat()


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (Linux only; None elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def process_start_marker(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), to tell a reused pid apart."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def process_alive(pid: int, start_marker: str | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process on this host, and the same one if a marker is given.

    >>> process_alive(os.getpid(), process_start_marker(os.getpid()))
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in {"Z", "X"}:
        return False
    return not (start_marker is not None and len(fields) > 19 and fields[19] != start_marker)


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock, as written into the lock file."""

    key: str
    token: str
    host: str
    pid: int
    pid_start: str | None
    run_id: str | None
    started_at: str
    heartbeat_at: str
    ttl_seconds: float
    replaced: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the lock file."""
        return {
            "key": self.key,
            "token": self.token,
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "ttl_seconds": self.ttl_seconds,
            "replaced": self.replaced,
        }


@dataclass(frozen=True)
class LockAttempt:
    """Outcome of :meth:`LocalRunLockManager.acquire`: a handle, or the current holder's record."""

    acquired: bool
    handle: LockHandle | None = None
    holder: dict[str, Any] | None = None
    path: Path | None = None


@dataclass
class LockHandle:
    """A held lock: refreshes its heartbeat in a thread and releases the file on exit.

    >>> with manager.acquire("orders").handle as lock:  # doctest: +SKIP
    ...     run_the_load()
    """

    manager: LocalRunLockManager
    path: Path
    owner: LockOwner
    takeover: dict[str, Any] | None = None
    lost: bool = False
    heartbeats: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start_heartbeat(self, interval_seconds: float | None = None) -> None:
        """Refresh ``heartbeat_at`` every ``interval_seconds`` (default: a third of the TTL, at most 30 s)."""
        if self._thread is not None:
            return
        interval = interval_seconds or self.manager.heartbeat_seconds
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat_loop, args=(interval,), name=f"dpone-lock-heartbeat-{self.owner.key}", daemon=True
        )
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread (the lock file stays until :meth:`release`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _beat_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if not self.beat():
                return

    def beat(self) -> bool:
        """Refresh the heartbeat once; False (and ``lost``) when the lock is no longer ours."""
        result = self.manager.refresh(self)
        if result is None:
            return True  # guard busy: try again next interval
        if not result:
            self.lost = True
            return False
        self.heartbeats += 1
        return True

    def release(self) -> bool:
        """Stop the heartbeat and delete the lock file if it is still ours; returns whether it was."""
        self.stop_heartbeat()
        released = self.manager.release(self)
        if not released:
            self.lost = True
        return released

    def __enter__(self) -> LockHandle:
        self.start_heartbeat()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class LocalRunLockManager:
    """Atomic local file locks with owner metadata, a heartbeat, TTL and recorded takeovers.

    >>> manager = LocalRunLockManager(".dpone/locks", ttl_seconds=600)  # doctest: +SKIP
    >>> attempt = manager.acquire("orders_daily", run_id="orders_2026_06_05")  # doctest: +SKIP
    >>> attempt.acquired, attempt.holder  # doctest: +SKIP
    (True, None)
    """

    def __init__(
        self,
        lock_dir: str | Path,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        heartbeat_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.lock_dir = Path(lock_dir)
        self.ttl_seconds = float(ttl_seconds)
        self.heartbeat_seconds = heartbeat_seconds or max(0.05, min(self.ttl_seconds / 3, 30.0))
        self.clock = clock
        self.host = socket.gethostname()

    # ---- paths --------------------------------------------------------------------------------
    def lock_path(self, key: str) -> Path:
        """``<lock_dir>/<key>.lock.json``."""
        return self.lock_dir / f"{safe_name(key)}.lock.json"

    def _guard_path(self, path: Path) -> Path:
        return path.with_name(path.name.removesuffix(".json") + ".guard")

    def takeover_log(self, key: str) -> Path:
        """``<lock_dir>/<key>.takeovers.jsonl``: one line per replaced stale lock."""
        return self.lock_dir / f"{safe_name(key)}.takeovers.jsonl"

    # ---- reading ------------------------------------------------------------------------------
    def inspect(self, key: str) -> dict[str, Any] | None:
        """The current lock record of ``key`` (None when unlocked)."""
        path = self.lock_path(key)
        try:
            return read_json(path)
        except (ValueError, OSError):
            return {"unreadable": True, "path": str(path)}

    def stale_reason(self, record: dict[str, Any] | None, path: Path | None = None) -> str | None:
        """Why ``record`` is stale, or None while its owner is alive and its heartbeat within the TTL."""
        if record is None:
            return None
        if record.get("unreadable"):
            try:
                age = self.clock() - (path.stat().st_mtime if path else 0.0)
            except OSError:
                return "lock file vanished"
            return f"lock file unreadable for {age:.0f}s" if age > UNREADABLE_GRACE_SECONDS else None
        pid = record.get("pid")
        if record.get("host") == self.host and isinstance(pid, int) and not process_alive(pid, record.get("pid_start")):
            return f"pid {pid} is gone on host {self.host}"
        try:
            beat = datetime.fromisoformat(str(record.get("heartbeat_at"))).timestamp()
        except ValueError:
            return "lock file has no valid heartbeat"
        ttl = float(record.get("ttl_seconds") or self.ttl_seconds)
        age = self.clock() - beat
        if age > ttl:
            return f"heartbeat is {age:.1f}s old, over the {ttl:g}s TTL"
        return None

    # ---- acquiring ----------------------------------------------------------------------------
    def _new_owner(self, key: str, run_id: str | None, replaced: dict[str, Any] | None) -> LockOwner:
        now = _now_iso(self.clock)
        return LockOwner(
            key=key,
            token=secrets.token_hex(8),
            host=self.host,
            pid=os.getpid(),
            pid_start=process_start_marker(os.getpid()),
            run_id=run_id,
            started_at=now,
            heartbeat_at=now,
            ttl_seconds=self.ttl_seconds,
            replaced=replaced,
        )

    def _create(self, path: Path, owner: LockOwner) -> bool:
        """O_CREAT|O_EXCL: exactly one creator wins; the record is written and fsync'ed at once."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps(owner.to_dict(), indent=2).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def acquire(self, key: str, run_id: str | None = None) -> LockAttempt:
        """Take the lock of ``key``; replace it when stale; otherwise report the live holder."""
        path = self.lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        owner = self._new_owner(key, run_id, None)
        if self._create(path, owner):
            return LockAttempt(True, LockHandle(self, path, owner), path=path)
        record = self.inspect(key)
        if record is None:  # released between our create and our read: try once more
            if self._create(path, owner):
                return LockAttempt(True, LockHandle(self, path, owner), path=path)
            record = self.inspect(key)
        if self.stale_reason(record, path) is None:
            return LockAttempt(False, holder=record, path=path)
        return self._take_over(key, path, run_id)

    def _take_over(self, key: str, path: Path, run_id: str | None) -> LockAttempt:
        with _Guard(self._guard_path(path), self) as guard:
            if not guard.held:
                return LockAttempt(False, holder=self.inspect(key), path=path)
            record = self.inspect(key)
            reason = self.stale_reason(record, path)
            if record is not None and reason is None:
                return LockAttempt(False, holder=record, path=path)
            takeover = None
            if record is not None:
                takeover = {
                    "previous": record,
                    "reason": reason,
                    "replaced_at": _now_iso(self.clock),
                    "by_host": self.host,
                    "by_pid": os.getpid(),
                    "by_run_id": run_id,
                }
                with self.takeover_log(key).open("a", encoding="utf-8") as log:
                    log.write(json.dumps(takeover, default=str) + "\n")
                path.unlink(missing_ok=True)
            owner = self._new_owner(key, run_id, takeover)
            if not self._create(path, owner):
                return LockAttempt(False, holder=self.inspect(key), path=path)
            return LockAttempt(True, LockHandle(self, path, owner, takeover=takeover), path=path)

    # ---- holder operations ---------------------------------------------------------------------
    def refresh(self, handle: LockHandle) -> bool | None:
        """Rewrite the heartbeat if the lock is still ours: True done, False lost, None guard busy."""
        with _Guard(self._guard_path(handle.path), self, wait_seconds=0.5) as guard:
            if not guard.held:
                return None
            try:
                record = read_json(handle.path)
            except (ValueError, OSError):
                record = None
            if record is None or record.get("token") != handle.owner.token:
                return False
            record["heartbeat_at"] = _now_iso(self.clock)
            write_json(handle.path, record)
            return True

    def release(self, handle: LockHandle) -> bool:
        """Delete the lock file if it still carries ``handle``'s token."""
        # Even without the guard (wedged for 5 s) the token check below keeps us from deleting a
        # lock that another process took over; a finished run must not leave its lock behind.
        with _Guard(self._guard_path(handle.path), self, wait_seconds=5.0):
            try:
                record = read_json(handle.path)
            except (ValueError, OSError):
                record = None
            if record is None or record.get("token") != handle.owner.token:
                return False
            handle.path.unlink(missing_ok=True)
            return True


class _Guard:
    """A short critical section between processes: an O_EXCL file that is deleted on exit.

    A guard left by a crashed process (pid gone, or older than GUARD_STALE_SECONDS) is removed.
    """

    def __init__(self, path: Path, manager: LocalRunLockManager, wait_seconds: float = 2.0) -> None:
        self.path = path
        self.manager = manager
        self.wait_seconds = wait_seconds
        self.held = False

    def __enter__(self) -> _Guard:
        deadline = time.monotonic() + self.wait_seconds
        body = json.dumps({"host": self.manager.host, "pid": os.getpid(), "at": time.time()}).encode()
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._clear_if_stale()
                if time.monotonic() >= deadline:
                    return self
                time.sleep(0.01)
                continue
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            self.held = True
            return self

    def _clear_if_stale(self) -> None:
        try:
            record = json.loads(self.path.read_text() or "{}")
            age = time.time() - self.path.stat().st_mtime
        except (OSError, ValueError):
            return
        pid = record.get("pid")
        dead = record.get("host") == self.manager.host and isinstance(pid, int) and not process_alive(pid)
        if dead or age > GUARD_STALE_SECONDS:
            self.path.unlink(missing_ok=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
