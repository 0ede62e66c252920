"""``@dpone_assets`` and ``build_dpone_assets``: Dagster assets from a dpone manifest.

``@dpone_assets`` wraps :func:`dagster.multi_asset` like ``@dbt_assets`` and ``@sling_assets``:
one spec per selected process, one asset check per contract rule, and a body you write::

    @dpone_assets(manifest="orders.yaml")
    def orders(context: dg.AssetExecutionContext, dpone: DponeResource):
        yield from dpone.run(context)

``build_dpone_assets`` writes that body for you and returns one asset definition per process, so
each keeps its own retry policy, pool and partitions (one step per process in Dagster), plus
external ``AssetSpec``s for source tables no process of the manifest loads.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_core.api import processes as select_processes
from dpone_core.manifest.loader import LoadedManifest, load_manifest
from dpone_core.manifest.process import Process
from dpone_dagster.resource import DponeResource
from dpone_dagster.translator import DponeTranslator

ManifestLike = str | Path | LoadedManifest


def _loaded(manifest: ManifestLike, registry_paths: Sequence[str | Path]) -> LoadedManifest:
    return manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest, registry_paths)


def _specs(
    loaded: LoadedManifest,
    chosen: list[Process],
    translator: DponeTranslator,
) -> tuple[list[dg.AssetSpec], list[dg.AssetCheckSpec]]:
    """Specs for ``chosen`` with depends_on edges resolved through the translator's keys."""
    keys = {p.name: translator.get_asset_key(p, loaded) for p in loaded.manifest.processes}
    specs, checks = [], []
    for process in chosen:
        spec = translator.get_asset_spec(process, loaded)
        keys[process.name] = spec.key
        upstream = [dg.AssetDep(keys[name]) for name in process.depends_on]
        known = {dep.asset_key for dep in spec.deps}
        extra = [dep for dep in upstream if dep.asset_key not in known]
        if extra:
            spec = spec.replace_attributes(deps=[*spec.deps, *extra])
        specs.append(spec)
        checks.extend(translator.get_check_specs(process, loaded, spec.key))
    return specs, checks


def _one_or_none(values: list[Any], what: str) -> Any:
    distinct = {repr(v): v for v in values}
    if len(distinct) > 1:
        raise dg.DagsterInvalidDefinitionError(
            f"the selected processes have different {what}; pass {what} explicitly, or use "
            "build_dpone_assets (one asset definition per process)"
        )
    return next(iter(distinct.values())) if distinct else None


def dpone_assets(
    *,
    manifest: ManifestLike,
    selector: str | None = None,
    translator: DponeTranslator | None = None,
    registry_paths: Sequence[str | Path] = (),
    name: str | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    pool: str | None = None,
    op_tags: Mapping[str, Any] | None = None,
    required_resource_keys: set[str] | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a function into a multi-asset with one asset per process the selector picks.

    Partitions, backfill policy, retry policy and pool default to the processes' own (they must
    agree when the selector picks several processes). The body usually is ``yield from dpone.run(context)``.

    >>> @dpone_assets(manifest="dags_examples/quickstart/orders.yaml")  # doctest: +SKIP
    ... def quickstart(context: dg.AssetExecutionContext, dpone: DponeResource):
    ...     yield from dpone.run(context)
    """
    translator = translator or DponeTranslator()
    loaded = _loaded(manifest, registry_paths)
    chosen = select_processes(loaded, selector)
    specs, checks = _specs(loaded, chosen, translator)
    if partitions_def is None:
        partitions_def = _one_or_none([s.partitions_def for s in specs], "partitions")
    if retry_policy is None:
        retry_policy = _one_or_none([translator.get_retry_policy(p, loaded) for p in chosen], "retry policies")
    if backfill_policy is None:
        policies = [translator.get_backfill_policy(p, loaded) for p in chosen]
        backfill_policy = _one_or_none(policies, "backfill policies")
    if pool is None:
        pool = _one_or_none([translator.get_pool(p, loaded) for p in chosen], "pools (concurrency keys)")
    if op_tags is None:
        op_tags = _one_or_none([translator.get_op_tags(p, loaded) for p in chosen], "op tags")
    specs = [s.replace_attributes(partitions_def=partitions_def) for s in specs]
    default_name = chosen[0].name if len(chosen) == 1 else f"{loaded.path.stem}_processes"
    return dg.multi_asset(
        name=name or f"dpone_{_op_name(default_name)}",
        specs=specs,
        check_specs=checks,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        retry_policy=retry_policy,
        pool=pool,
        op_tags=op_tags,
        required_resource_keys=required_resource_keys,
    )


def _op_name(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text)


def _build_one(
    loaded: LoadedManifest, process: Process, translator: DponeTranslator, resource_key: str
) -> dg.AssetsDefinition:
    if translator.get_scale_out(process, loaded):
        from dpone_dagster.scale_out import build_chunked_asset

        return build_chunked_asset(loaded, process, translator, resource_key)

    # A factory function, not a closure with default arguments: Dagster would take those as inputs.
    @dpone_assets(manifest=loaded, selector=process.name, translator=translator, required_resource_keys={resource_key})
    def _assets(context: dg.AssetExecutionContext) -> Iterator[Any]:
        resource: DponeResource = getattr(context.resources, resource_key)
        yield from resource.run(context)

    return _assets


def external_source_specs(
    manifest: ManifestLike,
    selector: str | None = None,
    translator: DponeTranslator | None = None,
    registry_paths: Sequence[str | Path] = (),
) -> list[dg.AssetSpec]:
    """External ``AssetSpec``s for the source tables of the selected processes that no process loads.

    >>> [s.key for s in external_source_specs("pg_to_duckdb.yaml")]  # doctest: +SKIP
    [AssetKey(['public', 'orders'])]
    """
    translator = translator or DponeTranslator()
    loaded = _loaded(manifest, registry_paths)
    produced = {translator.get_asset_key(p, loaded) for p in loaded.manifest.processes}
    specs: dict[dg.AssetKey, dg.AssetSpec] = {}
    for process in select_processes(loaded, selector):
        key = translator.get_source_key(process, loaded)
        if key is None or key in produced or key in specs:
            continue
        kind = loaded.manifest.connections[process.source.connection].type
        specs[key] = dg.AssetSpec(
            key,
            description=f"Source table {process.source.table} read by dpone process {process.name}",
            group_name=translator.get_group_name(process, loaded),
            kinds={kind},
            metadata={"dpone/connection": process.source.connection},
        )
    return list(specs.values())


def build_dpone_assets(
    manifest: ManifestLike,
    selector: str | None = None,
    translator: DponeTranslator | None = None,
    *,
    registry_paths: Sequence[str | Path] = (),
    include_sources: bool = True,
    resource_key: str = "dpone",
) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """One asset definition per selected process (plus external source specs), ready for Definitions.

    Each definition runs its process through the ``DponeResource`` bound to ``resource_key``.

    >>> defs = dg.Definitions(assets=build_dpone_assets("dags_examples/quickstart/orders.yaml"),  # doctest: +SKIP
    ...                       resources={"dpone": DponeResource()})
    """
    translator = translator or DponeTranslator()
    loaded = _loaded(manifest, registry_paths)
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = [
        _build_one(loaded, process, translator, resource_key) for process in select_processes(loaded, selector)
    ]
    if include_sources:
        assets.extend(external_source_specs(loaded, selector, translator))
    return assets
