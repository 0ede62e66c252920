"""The execution plan of the dataflow runner: which tasks run, on which shard, after what, and with whom not.

Pure functions over manifest models; nothing here opens a connection.

Ordering rules, from strongest to weakest:

* ``depends_on`` is a *data* edge: a process runs only after its upstream passed; if the upstream
  failed or was skipped, the process is skipped.
* ``orchestration.execution_order`` is an *order* edge inside one ``orchestration.group``: every
  process with order ``n`` starts after all processes of the same group with the next lower order
  have finished (whatever their outcome). Equal orders may run side by side; processes without an
  order are not sequenced. This way ``group`` stays a label (Dagster uses it for asset groups)
  and only ``execution_order`` asks for sequencing.
* Exclusive lanes: processes that share an ``orchestration.concurrency_key``, or that write the same
  DuckDB file, never run at the same time. DuckDB allows one writer process per file and aborts
  concurrent catalog changes from threads of that process ("write-write conflict"), so one file
  is one lane; different files and server databases run in parallel.

Sharding (``job_num`` / ``job_index``) assigns every task to exactly one worker by a stable hash
(sha256, not Python's salted ``hash``) of a process name. Processes linked by ``depends_on`` or
``execution_order`` stay on one shard (the hash of the first name of their connected component),
because another worker cannot wait for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from dpone_core.connections.registry import connector
from dpone_core.errors import ManifestError
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_core.manifest.selectors import select, selected_upstreams


@dataclass(frozen=True)
class Task:
    """One unit of work: a process, or one partition (chunk) of it during replay."""

    id: str
    process: Process
    run_id: str
    partition: str | None = None
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    exclusive: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutionPlan:
    """Tasks in a deterministic start order, plus what this shard left to other workers."""

    job_id: str
    tasks: tuple[Task, ...]
    job_num: int = 1
    job_index: int = 0
    other_shards: tuple[str, ...] = field(default=())

    def describe(self) -> list[str]:
        """One line per task: what it waits for and which lanes it holds."""
        lines = [f"job {self.job_id}: {len(self.tasks)} task(s) on shard {self.job_index + 1}/{self.job_num}"]
        for task in self.tasks:
            parts = [task.id]
            if task.needs:
                parts.append(f"needs {', '.join(task.needs)}")
            if task.after:
                parts.append(f"after {', '.join(task.after)}")
            if task.exclusive:
                parts.append(f"lanes {', '.join(task.exclusive)}")
            lines.append("  " + "; ".join(parts))
        if self.other_shards:
            lines.append(f"  on other shards: {', '.join(self.other_shards)}")
        return lines


def stable_shard(key: str, job_num: int) -> int:
    """The shard (0-based) of ``key`` among ``job_num``: the same on every machine and every run.

    >>> stable_shard("orders", 1)
    0
    >>> stable_shard("orders", 4) == stable_shard("orders", 4)
    True
    """
    if job_num < 1:
        raise ValueError("job_num must be at least 1")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % job_num


def stage_names(stages: str | Sequence[str]) -> list[str]:
    """Stage tags from a name, a comma-separated string or a list (of names or comma-separated strings).

    >>> stage_names("ingest2bronze"), stage_names("bronze, silver"), stage_names(["a,b", "c"])
    (['ingest2bronze'], ['bronze', 'silver'], ['a', 'b', 'c'])
    """
    items = [stages] if isinstance(stages, str) else list(stages)
    return [name.strip() for item in items for name in str(item).split(",") if name.strip()]


def select_processes(loaded: LoadedManifest, selector: str | None, stages: str | Sequence[str] = ()) -> list[Process]:
    """Processes picked by ``selector`` and, when given, carrying one of the ``stages`` as a tag."""
    chosen = select(loaded.manifest, selector)
    wanted = set(stage_names(stages))
    if wanted:
        chosen = [p for p in chosen if wanted & set(p.tags)]
        if not chosen:
            tags = sorted({t for p in loaded.manifest.processes for t in p.tags})
            raise ManifestError(
                f"no process carries the stage tag(s) {', '.join(sorted(wanted))}",
                fix=f"tag processes with the stage name (tags in this manifest: {', '.join(tags) or 'none'})",
            )
    return chosen


def _order_edges(processes: Sequence[Process]) -> dict[str, set[str]]:
    """``execution_order`` waves inside each group: name -> names it must start after."""
    waves: dict[str | None, dict[int, list[str]]] = {}
    for process in processes:
        order = process.orchestration.execution_order
        if order is not None:
            waves.setdefault(process.orchestration.group, {}).setdefault(order, []).append(process.name)
    after: dict[str, set[str]] = {}
    for by_order in waves.values():
        levels = sorted(by_order)
        for previous, current in pairwise(levels):
            for name in by_order[current]:
                after.setdefault(name, set()).update(by_order[previous])
    return after


def _components(names: Iterable[str], edges: dict[str, set[str]]) -> dict[str, str]:
    """name -> the smallest name of its connected component (edges read as undirected)."""
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for name, others in edges.items():
        for other in others:
            if other in parent and name in parent:
                a, b = root(name), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {n: root(n) for n in parent}


def lanes(loaded: LoadedManifest, process: Process) -> tuple[str, ...]:
    """Exclusive lanes of ``process``: its concurrency key and, for a single-writer sink, what one
    writer holds (a DuckDB database file)."""
    result = []
    if process.orchestration.concurrency_key:
        result.append(f"key:{process.orchestration.concurrency_key}")
    profile = loaded.manifest.connections.get(process.sink.connection)
    if profile is not None:
        spec = connector(profile.type)
        if spec.capabilities.single_writer:
            lane = spec.writer_lane(profile, loaded.base_dir) if spec.writer_lane else None
            result.append(lane or f"{profile.type}:{process.sink.connection}")
    return tuple(result)


def _check_acyclic(names: Sequence[str], edges: dict[str, set[str]]) -> None:
    remaining = {n: {d for d in edges.get(n, set()) if d in names} for n in names}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps]
        if not ready:
            raise ManifestError(
                "depends_on and execution_order contradict each other among: " + ", ".join(sorted(remaining)),
                fix="give upstream processes a lower execution_order, or drop the order",
            )
        for name in ready:
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)


def build_plan(
    loaded: LoadedManifest,
    processes: Sequence[Process],
    job_id: str,
    *,
    job_num: int = 1,
    job_index: int = 0,
    partitions: dict[str, list[str]] | None = None,
) -> ExecutionPlan:
    """Tasks for ``processes`` on shard ``job_index`` of ``job_num``.

    ``partitions`` (process name -> keys) turns a process into one task per key, chained so that a
    failed chunk stops the later chunks of that process (replay).
    """
    if not 0 <= job_index < job_num:
        raise ManifestError(f"job_index {job_index} is not in 0..{job_num - 1}", fix="pass 0 <= job_index < job_num")
    names = [p.name for p in processes]
    selected = set(names)
    # Through processes left out of the selection too: with a -> b -> c and only a and c, c needs a.
    graph = {p.name: tuple(p.depends_on) for p in loaded.manifest.processes}
    needs = {p.name: selected_upstreams(p.name, graph, selected) for p in processes}
    after = _order_edges(processes)
    combined = {n: needs[n] | after.get(n, set()) for n in names}
    _check_acyclic(names, combined)
    component = _components(names, combined)
    mine = [p for p in processes if stable_shard(component[p.name], job_num) == job_index]
    others = tuple(p.name for p in processes if p not in mine)

    # Start order: a topological order of the combined edges, ties kept in selection order.
    order: list[Process] = []
    placed: set[str] = set()
    pending = list(mine)
    while pending:
        for process in pending:
            if combined[process.name] <= placed | set(others):
                order.append(process)
                placed.add(process.name)
                pending.remove(process)
                break

    tasks: list[Task] = []
    last_task: dict[str, str] = {}
    for process in order:
        keys = (partitions or {}).get(process.name)
        if keys is not None and not keys:
            continue  # an empty replay range for this process
        upstream_needs = tuple(last_task[d] for d in sorted(needs[process.name]) if d in last_task)
        upstream_after = tuple(last_task[d] for d in sorted(after.get(process.name, set())) if d in last_task)
        exclusive = lanes(loaded, process)
        if keys is None:
            task = Task(
                process.name, process, f"{job_id}__{process.name}", None, upstream_needs, upstream_after, exclusive
            )
            tasks.append(task)
        else:
            previous: tuple[str, ...] = ()
            for key in keys:
                task_id = f"{process.name}@{key}"
                task = Task(
                    task_id,
                    process,
                    f"{job_id}__{process.name}__{key}",
                    key,
                    upstream_needs + previous,
                    upstream_after,
                    exclusive,
                )
                tasks.append(task)
                previous = (task_id,)
        last_task[process.name] = tasks[-1].id
    return ExecutionPlan(job_id, tuple(tasks), job_num, job_index, others)
