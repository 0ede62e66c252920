"""Build Airflow tasks from a manifest: ``dpone_task_group`` (a TaskGroup) and ``dpone_dag`` (a whole DAG).

One :class:`~dpone_provider.operators.run.DponeRunOperator` per selected process, wired upstream to
downstream from ``depends_on``; each task gets the manifest's retries, pool, owner and Assets.

A process with ``partitions`` becomes a chunked load: a dynamically mapped
``<process>__extract`` task, one mapped run per partition key, each calling
``dpone_core.run(..., phase="extract", partition=key)`` (it reads its slice and parks it under
``partitions.chunk_dir``, leaving the target alone), then one ``<process>`` finalize task calling
``dpone_core.run(..., phase="finalize", chunks=keys)``, which gates every row once and commits all
chunks in one transaction with one audit row and one state update. The keys are:

* ``values`` partitions: the listed values;
* ``ranges`` partitions: ``0 .. ranges-1`` (a database source splits its key column);
* time-grain partitions: the keys inside the DAG run's data interval (a small
  ``<process>__partition_keys`` task computes them at run time); a run without a data interval
  maps over every key from ``partitions.start`` up to now.

Every worker must see ``partitions.chunk_dir`` (one machine, or a shared filesystem).

With ``checks=True`` each load is followed by a ``<process>__check`` task
(:class:`~dpone_provider.operators.check.DponeCheckOperator`): the table re-verified against its
contract and the committed audit rows, optionally its freshness (``check_max_age``). Downstream
processes then wait for the check, so a table that fails it feeds nothing.

Processes whose sinks share one single-writer lane (the same DuckDB file) and have no dependency
path between them are chained in manifest order, as ``dpone orchestrate`` runs its lanes: run
side by side, all but one would fail on the file lock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, TaskGroup, task

from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Partitions, Process
from dpone_core.manifest.selectors import selected_upstreams
from dpone_provider.hooks.dpone import DponeHook
from dpone_provider.lineage import assets, process_datasets
from dpone_provider.operators.check import DponeCheckOperator
from dpone_provider.operators.run import DponeRunOperator
from dpone_provider.operators.task_arguments import manifest_task_kwargs, writer_lane


def task_id_for(process_name: str) -> str:
    """A task id for a process name (dots separate task groups in Airflow, so they become ``_``).

    >>> task_id_for("sales.orders")
    'sales_orders'
    """
    return re.sub(r"[^A-Za-z0-9_\-]", "_", process_name)


def interval_partition_keys(partitions: Partitions, start: datetime | None, end: datetime | None) -> list[str]:
    """Partition keys of a time grain inside ``[start, end)``; every key from ``partitions.start`` without one.

    A manual run has no interval (or an empty one): it maps over every key from ``partitions.start``.

    >>> from datetime import UTC
    >>> p = Partitions(column="updated_at", grain="hour")
    >>> interval_partition_keys(p, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, tzinfo=UTC))
    ['2026-01-01T00', '2026-01-01T01', '2026-01-01T02']
    """
    from dpone_core.api import partition_keys

    if partitions.values is not None:
        return [str(v) for v in partitions.values]
    if start is None or end is None or start >= end:  # manual runs: no interval, or an empty one
        return partition_keys(partitions)
    window = partitions.model_copy(update={"start": start.isoformat()})
    return partition_keys(window, until=end)


def _task_kwargs(
    process: Process, loaded: LoadedManifest, placeholders: frozenset[str], use_pool: bool, given: set[str]
) -> dict[str, Any]:
    """Manifest-derived task arguments for mapped tasks (their __init__ runs only at execution)."""
    kwargs = {k: v for k, v in manifest_task_kwargs(process, use_pool=use_pool).items() if k not in given}
    inlets, outlets = assets(process_datasets(loaded, process, placeholders))
    if inlets and "inlets" not in given:
        kwargs["inlets"] = inlets
    if outlets and "outlets" not in given:
        kwargs["outlets"] = outlets
    return kwargs


def add_process_tasks(
    manifest: str | Path,
    selector: str | None = None,
    *,
    registry_paths: Sequence[str] = (),
    dpone_conn_id: str | None = None,
    use_pool: bool = True,
    default_args: Mapping[str, Any] | None = None,
    operator_kwargs: Mapping[str, Any] | None = None,
    checks: bool = False,
    check_max_age: float | str | None = None,
) -> dict[str, Any]:
    """Add the tasks of each selected process to the current DAG / TaskGroup; returns ``{process name: task}``.

    The task of a process is its run, or for a chunked load its finalize task, or with ``checks``
    its check task (downstream processes wait for it; upstream processes come before its keys or
    extract tasks).

    The manifest is read now (parse time); an invalid manifest raises ``ManifestError``, which Airflow
    shows as the DAG's import error.
    """
    import dpone_core

    hook = DponeHook(dpone_conn_id, registry_paths)
    loaded, placeholders = hook.parse(manifest)
    manifest_path = str(hook.manifest_path(manifest))
    selected = dpone_core.processes(loaded, selector)
    extra = dict(operator_kwargs or {})
    given = set(extra) | set(default_args or {})
    entries: dict[str, Any] = {}
    exits: dict[str, Any] = {}
    for process in selected:
        common: dict[str, Any] = {
            "task_id": task_id_for(process.name),
            "manifest": manifest_path,
            "selector": process.name,
            "registry_paths": list(registry_paths),
            "dpone_conn_id": dpone_conn_id,
            "use_pool": use_pool,
            "doc_md": process.description,
            **extra,
        }
        partitions = process.partitions
        if partitions is None:
            entries[process.name] = exits[process.name] = DponeRunOperator(
                parsed_manifest=(loaded, placeholders), **common
            )
            continue
        keys: Any
        if partitions.values is not None:
            keys = [str(v) for v in partitions.values]
        elif partitions.ranges is not None:
            keys = [str(i) for i in range(partitions.ranges)]
        else:
            keys = _grain_keys_task(process, partitions)
        extract_kwargs = {**common, **_task_kwargs(process, loaded, placeholders, use_pool, given)}
        extract_kwargs.pop("outlets", None)  # the extract tasks do not write the target
        extract_kwargs["task_id"] = f"{common['task_id']}__extract"
        extract = DponeRunOperator.partial(phase="extract", **extract_kwargs).expand(partition=keys)
        finalize = DponeRunOperator(parsed_manifest=(loaded, placeholders), phase="finalize", chunks=keys, **common)
        extract >> finalize
        entries[process.name] = keys if not isinstance(keys, list) else extract
        exits[process.name] = finalize
    if checks:
        for process in selected:
            exits[process.name] = _check_task(
                exits[process.name],
                process,
                loaded,
                placeholders,
                common_check={
                    "manifest": manifest_path,
                    "registry_paths": list(registry_paths),
                    "dpone_conn_id": dpone_conn_id,
                    "max_age": check_max_age,
                },
            )
    graph = {p.name: tuple(p.depends_on) for p in loaded.manifest.processes}
    for process in selected:
        for upstream in selected_upstreams(process.name, graph, set(exits)):
            exits[upstream] >> entries[process.name]
    for before, after in lane_chain(loaded, selected, placeholders):
        exits[before] >> entries[after]
    return exits


def _check_task(
    load: Any, process: Process, loaded: LoadedManifest, placeholders: frozenset[str], common_check: dict[str, Any]
) -> DponeCheckOperator:
    """A ``<process>__check`` task after the load; one DAG run at a time on a single-writer file."""
    lane_kwargs: dict[str, Any] = {"max_active_tis_per_dag": 1} if writer_lane(loaded, process, placeholders) else {}
    check = DponeCheckOperator(
        task_id=f"{task_id_for(process.name)}__check",
        selector=process.name,
        doc_md=f"Re-verify `{process.sink.table}` against the contract of `{process.name}` and its audit rows.",
        **common_check,
        **lane_kwargs,
    )
    load >> check
    return check


def lane_chain(
    loaded: LoadedManifest, selected: Sequence[Process], placeholders: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Extra ``(before, after)`` edges that run processes sharing a single-writer lane one at a time.

    In manifest order, each process of a lane waits for the previous one unless ``depends_on``
    (with the edges added so far) already orders the two; checking both directions on the growing
    graph keeps it acyclic.
    """
    downstream: dict[str, set[str]] = {p.name: set() for p in loaded.manifest.processes}
    for p in loaded.manifest.processes:
        for upstream in p.depends_on:
            downstream.setdefault(upstream, set()).add(p.name)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in downstream.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    names = {p.name for p in selected}
    last: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for process in loaded.manifest.processes:  # manifest order
        lane = writer_lane(loaded, process, placeholders) if process.name in names else None
        if lane is None:
            continue
        previous = last.get(lane)
        last[lane] = process.name
        if previous is None or reaches(previous, process.name) or reaches(process.name, previous):
            continue
        downstream[previous].add(process.name)
        edges.append((previous, process.name))
    return edges


def _grain_keys_task(process: Process, partitions: Partitions) -> Any:
    """A ``<process>__partition_keys`` task listing the grain keys of the run's data interval."""
    spec = partitions.model_dump()

    @task(task_id=f"{task_id_for(process.name)}__partition_keys")
    def partition_keys_for_interval(
        data_interval_start: Any = None, data_interval_end: Any = None, dag_run: Any = None
    ) -> list[str]:
        """Partition keys inside this DAG run's data interval, or the run's own partition key."""
        window = Partitions.model_validate(spec)
        # A partitioned DAG run (Airflow 3.2+ partition timetables, asset partitions) names its key.
        run_key = getattr(dag_run, "partition_key", None)
        if run_key and window.start and str(run_key) in interval_partition_keys(window, None, None):
            return [str(run_key)]
        return interval_partition_keys(window, data_interval_start, data_interval_end)

    return partition_keys_for_interval()


def dpone_task_group(
    manifest: str | Path,
    selector: str | None = None,
    *,
    group_id: str | None = None,
    registry_paths: Sequence[str] = (),
    dpone_conn_id: str | None = None,
    use_pool: bool = True,
    operator_kwargs: Mapping[str, Any] | None = None,
    tooltip: str = "",
    checks: bool = False,
    check_max_age: float | str | None = None,
) -> TaskGroup:
    """A TaskGroup with one DponeRunOperator per process the selector picks, wired by ``depends_on``.

    Call it inside ``with DAG(...)``; the group id defaults to the manifest's file name. With
    ``checks=True`` each load is followed by its ``<process>__check`` task (``check_max_age``
    adds a freshness check).

    >>> with DAG("sales", schedule="@daily") as dag:  # doctest: +SKIP
    ...     loads = dpone_task_group("/opt/airflow/dags/orders.yaml", "tag:sales")
    """
    group = TaskGroup(group_id=group_id or task_id_for(Path(manifest).stem), tooltip=tooltip)
    dag = getattr(group, "dag", None)
    with group:
        add_process_tasks(
            manifest,
            selector,
            registry_paths=registry_paths,
            dpone_conn_id=dpone_conn_id,
            use_pool=use_pool,
            # What the DAG's and the enclosing groups' default_args set, the manifest does not override.
            default_args={**(getattr(dag, "default_args", None) or {}), **(getattr(group, "default_args", None) or {})},
            operator_kwargs=operator_kwargs,
            checks=checks,
            check_max_age=check_max_age,
        )
    return group


def dpone_dag(
    manifest: str | Path,
    selector: str | None = None,
    *,
    dag_id: str | None = None,
    schedule: Any = None,
    start_date: datetime | None = None,
    catchup: bool = False,
    tags: Sequence[str] | None = None,
    default_args: Mapping[str, Any] | None = None,
    registry_paths: Sequence[str] = (),
    dpone_conn_id: str | None = None,
    use_pool: bool = True,
    operator_kwargs: Mapping[str, Any] | None = None,
    checks: bool = False,
    check_max_age: float | str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """A DAG running the selected processes of a manifest, one task per process.

    ``dag_id`` defaults to ``dpone_<manifest file name>``; tags default to ``dpone`` plus the
    processes' tags. Assign the result to a module-level name so Airflow finds it.

    >>> dag = dpone_dag("/opt/airflow/dags/orders.yaml", schedule="@hourly")  # doctest: +SKIP
    """
    import dpone_core

    hook = DponeHook(dpone_conn_id, registry_paths)
    loaded, _ = hook.parse(manifest)
    selected = dpone_core.processes(loaded, selector)
    if tags is None:
        tags = ["dpone", *sorted({t for p in selected for t in p.tags})]
    doc = "\n".join(f"* **{p.name}**: {p.description or ''}" for p in selected)
    with DAG(
        dag_id=dag_id or f"dpone_{task_id_for(Path(manifest).stem)}",
        schedule=schedule,
        start_date=start_date,
        catchup=catchup,
        tags=list(tags),
        default_args=dict(default_args or {}),
        doc_md=dag_kwargs.pop("doc_md", f"dpone manifest `{Path(manifest).name}`\n\n{doc}"),
        **dag_kwargs,
    ) as dag:
        add_process_tasks(
            manifest,
            selector,
            registry_paths=registry_paths,
            dpone_conn_id=dpone_conn_id,
            use_pool=use_pool,
            default_args=default_args,
            operator_kwargs=operator_kwargs,
            checks=checks,
            check_max_age=check_max_age,
        )
    return dag
