"""Chunked scale-out in Dagster: parallel extract steps, one finalize step that commits them all.

A process whose ``partitions`` are key ranges (or values, with ``DponeTranslator(scale_out=True)``)
becomes a graph-backed asset of three ops, the same two halves the Airflow task group maps::

    <name>__chunks  ->  <name>__extract (one mapped step per key)  ->  <name>__finalize

Each extract step runs ``phase="extract"`` for its key and parks the rows under
``partitions.chunk_dir`` (the target is not touched); the finalize step runs ``phase="finalize"``
with every key, which gates all rows once and commits them in one transaction with one audit
row and one state update. Under the multiprocess executor the extracts run in parallel processes.

Every step of one load uses the dpone run id of the Dagster run's *root* run: a step retry and a
re-execution from failure both find the chunks already parked, and a finalize that already
committed is skipped, so the load is applied exactly once. Launch a new run to load again.
"""

import inspect
from collections.abc import Iterator
from typing import Any

import dagster as dg

from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_dagster.event_iterator import check_results, column_lineage, failure_for, materialize_metadata
from dpone_dagster.resource import DponeResource, dpone_run_id
from dpone_dagster.translator import RULE_KEY, DponeTranslator, metadata_text


def chunk_keys(process: Process) -> list[str]:
    """The chunk keys of a scale-out process: ``0 .. ranges-1``, or the listed values."""
    partitions = process.partitions
    assert partitions is not None
    if partitions.ranges is not None:
        return [str(i) for i in range(partitions.ranges)]
    return [str(v) for v in partitions.values or []]


def load_run_id(context: dg.OpExecutionContext) -> str:
    """The dpone run id all steps of one chunked load share: ``dagster-<root run id>``."""
    return dpone_run_id(context.run.root_run_id or context.run_id)


def _op_name(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text)


def build_chunked_asset(
    loaded: LoadedManifest, process: Process, translator: DponeTranslator, resource_key: str
) -> dg.AssetsDefinition:
    """The graph-backed asset of one scale-out process (chunks -> mapped extract -> finalize)."""
    spec = translator.get_asset_spec(process, loaded)
    checks = translator.get_check_specs(process, loaded, spec.key)
    name = _op_name(process.name)
    keys = chunk_keys(process)
    manifest, registry = str(loaded.path), [str(p) for p in loaded.registry_paths]
    retry = translator.get_retry_policy(process, loaded)
    pool = translator.get_pool(process, loaded)

    def resource_of(context: dg.OpExecutionContext) -> tuple[DponeResource, LoadedManifest]:
        resource: DponeResource = getattr(context.resources, resource_key)
        return resource, resource.load(manifest, registry)

    deps = {f"dep_{i}": dep.asset_key for i, dep in enumerate(spec.deps)}

    @dg.op(name=f"{name}__chunks", ins={n: dg.In(dg.Nothing) for n in deps}, out=dg.DynamicOut(str))
    def chunks() -> Iterator[dg.DynamicOutput[str]]:
        for key in keys:
            yield dg.DynamicOutput(key, mapping_key=_op_name(key) or "_")

    @dg.op(name=f"{name}__extract", required_resource_keys={resource_key}, pool=pool, retry_policy=retry)
    def extract(context: dg.OpExecutionContext, key: str) -> str:
        resource, current = resource_of(context)
        run_id = load_run_id(context)
        context.log.info(f"dpone {process.name}: extracting chunk {key} (run {run_id})")
        report = resource.run_process(
            current, process.name, run_id=run_id, partition=key, phase="extract", log=context.log
        )
        (context.log.info if report.passed else context.log.error)(report.to_text())
        if not report.passed:
            raise failure_for(report)
        return key

    outs = {"result": dg.Out(dg.Nothing)} | {c.get_python_identifier(): dg.Out(is_required=False) for c in checks}

    @dg.op(name=f"{name}__finalize", out=outs, required_resource_keys={resource_key}, pool=pool, retry_policy=retry)
    def finalize(context: dg.OpExecutionContext, extracted: list[str]) -> Iterator[Any]:
        resource, current = resource_of(context)
        ordered = sorted(extracted, key=keys.index)
        report = resource.run_process(
            current, process.name, run_id=load_run_id(context), phase="finalize", chunks=ordered, log=context.log
        )
        (context.log.info if report.passed else context.log.error)(report.to_text())
        rule_checks = {metadata_text(c.metadata[RULE_KEY]) or "": c.name for c in checks}
        if report.passed:
            upstream = next((dep.asset_key for dep in spec.deps), None) if process.source.table else None
            lineage = column_lineage(process, report, upstream)
            row_count = resource.target_row_count(current, process.name, context.log)
            metadata = materialize_metadata([report], row_count, [], lineage)
            yield dg.Output(None, "result", metadata={**metadata, "dpone/chunks": keys})
        yield from check_results([report], spec.key, rule_checks)
        if not report.passed:
            raise failure_for(report)

    def compose(**upstream: Any) -> Any:
        return finalize(chunks(**upstream).map(extract).collect())

    # Upstream assets (the source table, depends_on) are Nothing inputs of the graph that gate the
    # first op; the graph's signature names them, as Dagster reads its inputs from it.
    params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in deps]
    compose.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return dg.graph_multi_asset(
        name=f"dpone_{name}",
        outs={"result": dg.AssetOut.from_spec(spec.replace_attributes(deps=[]))},
        ins={n: dg.AssetIn(key, dagster_type=dg.Nothing) for n, key in deps.items()},
        check_specs=checks,
        can_subset=False,
    )(compose)
