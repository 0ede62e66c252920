"""Peak RSS of a benchmark's child processes: each process's own VmHWM from ``/proc/<pid>/status``.

``wait4``'s ``ru_maxrss`` (and ``getrusage`` inside the child) is not the child's own peak: Linux
starts it from the address space the child had before its exec, the benchmark's (a copy after
fork; with vfork, which ``subprocess`` uses, the benchmark's own), so once the benchmark is the
larger process (it generated data, or imported more) every child shows the benchmark's size.
VmHWM is the high-water mark of the address space a process has had since its exec. Linux only.

A Python child the benchmark writes starts with :data:`CHILD_HWM` and reports ``hwm()`` as it
ends (exact). A command it cannot change (psql, the dpone CLI, a peer's interpreter) is sampled
from outside by :func:`wait_peak`, which can only miss growth in the last ``interval`` seconds
before the process exits.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def vmhwm_mb(pid: int | str = "self") -> float | None:
    """VmHWM of process ``pid`` (this one by default) in MB; None once it has exited.

    An exited process not yet waited for (a zombie) still has a status file, without the Vm lines.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # gone, or reaped between the listing and the read
        pass
    return None


CHILD_HWM = f"""
import sys
sys.path.append({str(Path(__file__).resolve().parent)!r})
from peak_rss import vmhwm_mb as hwm
"""
"""The first lines of a ``python -c`` child: ``hwm()`` is then its own peak RSS in MB.

Appended to ``sys.path``, not put first: the benchmarks' own module names (``s3``) must not
shadow a package the child imports.
"""


def descendants(pid: int) -> list[int]:
    """``pid``'s children, their children and so on, as they are now (none once it has exited)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        if parent != pid:
            found.append(parent)
    return found


def wait_peak(procs: Sequence[subprocess.Popen[bytes]], interval: float = 0.01) -> float:
    """Wait for every process of ``procs``; the largest VmHWM that one of them or of their
    descendants reached, in MB (0 if none was read).

    Each one's ``returncode`` is set. The largest process, not the sum, as ``wait4`` counted
    (a dpone run's Postgres relay process is its own). VmHWM only rises while a process lives, so
    the last sample before it exits is its peak, but for what it added in that last ``interval``.
    """
    peak, running = 0.0, list(procs)
    while running:
        for proc in list(running):
            # Sampled before the exit check: once poll() has reaped it, the pid may be another's.
            for pid in [proc.pid, *descendants(proc.pid)]:
                peak = max(peak, vmhwm_mb(pid) or 0.0)
            if proc.poll() is not None:
                running.remove(proc)
        if running:
            time.sleep(interval)
    return peak
