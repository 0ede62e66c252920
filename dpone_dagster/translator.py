"""DponeTranslator: how a dpone process becomes a Dagster asset (key, deps, group, checks, policies).

Subclass it and override one method to change one thing, as with dagster-dbt's
``DagsterDbtTranslator`` or dagster-sling's ``DagsterSlingTranslator``::

    class PrefixedTranslator(DponeTranslator):
        def get_asset_key(self, process, manifest):
            return super().get_asset_key(process, manifest).with_prefix("warehouse")

The factory (:func:`dpone_dagster.build_dpone_assets`) adds the ``depends_on`` edges itself,
using the keys this translator returns, so a changed key is followed by every downstream asset.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from dpone_core.api import contract_rules, process_sha256, sink_table, source_table
from dpone_core.lineage.datasets import identity_columns
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process
from dpone_dagster.partitions import partitions_def_for

# Metadata keys the resource and the IO manager read back from the specs at run time.
MANIFEST_KEY = "dpone/manifest"
PROCESS_KEY = "dpone/process"
REGISTRY_KEY = "dpone/registry_paths"
RULE_KEY = "dpone/rule"
EVIDENCE_KEY = "dpone/evidence_dir"  # set by DponeManifestComponent; the resource's own setting wins

_WHOLE_TABLE_STRATEGIES = frozenset({"full_refresh", "snapshot_diff"})
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,63}$")


def plain_metadata(value: object) -> object:
    """A definition metadata value as a plain Python value (it comes back raw or as a MetadataValue)."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def metadata_text(value: object) -> str | None:
    """A text metadata value (None when absent)."""
    plain = plain_metadata(value)
    return None if plain is None else str(plain)


def metadata_texts(value: object) -> list[str]:
    """A list-of-text metadata value (empty when absent)."""
    plain = plain_metadata(value)
    return [str(item) for item in plain] if isinstance(plain, list | tuple) else []


def check_name(rule_id: str) -> str:
    """The asset check name of a contract rule id (Dagster names allow only letters, digits and ``_``).

    >>> check_name("amount.min"), check_name("id+region.unique")
    ('amount_min', 'id_region_unique')
    """
    return _NOT_NAME.sub("_", rule_id)


def lineage_of_columns(process: Process, names: Sequence[str], upstream: dg.AssetKey) -> dg.TableColumnLineage | None:
    """Lineage of the ``names`` that the process copies unchanged from the same-named upstream column."""
    columns = identity_columns(process, list(names))
    if not columns:
        return None
    return dg.TableColumnLineage(
        deps_by_column={c: [dg.TableColumnDep(asset_key=upstream, column_name=c)] for c in columns}
    )


def _identifier(text: str) -> str:
    name = _NOT_NAME.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


@dataclass
class DponeTranslator:
    """Maps dpone processes to Dagster asset specs, check specs and execution policies.

    ``io_manager_key`` (optional) is set on every spec so downstream assets load the target
    through :class:`dpone_dagster.DponeIOManager` without naming an input manager.
    """

    io_manager_key: str | None = None
    blocking_checks: bool = False
    """Contract checks block downstream assets of the same run when they fail (Dagster's ``blocking``)."""
    scale_out: bool = False
    """Value partitions become chunks of one load (parallel extract steps, one finalize) instead of
    Dagster partitions; key-range partitions always do."""

    def get_asset_key(self, process: Process, manifest: LoadedManifest) -> dg.AssetKey:
        """The key of the asset: the sink table as ``[schema, table]`` (``[table]`` without a schema).

        >>> DponeTranslator().get_asset_key(process, manifest)  # doctest: +SKIP
        AssetKey(['analytics', 'orders'])
        """
        ref = sink_table(process)
        return dg.AssetKey([part for part in (ref.schema, ref.name) if part])

    def get_source_key(self, process: Process, manifest: LoadedManifest) -> dg.AssetKey | None:
        """The key of the source table (an upstream dep), or None for query and file sources.

        When another process loads that same table, the key is that process's asset and the edge
        links the two; otherwise :func:`build_dpone_assets` adds an external ``AssetSpec`` for it.
        """
        ref = source_table(process)
        if ref is None:
            return None
        return dg.AssetKey([part for part in (ref.schema, ref.name) if part])

    def get_group_name(self, process: Process, manifest: LoadedManifest) -> str:
        """``orchestration.group`` (letters, digits and ``_`` only), or ``dpone``."""
        return _identifier(process.orchestration.group) if process.orchestration.group else "dpone"

    def get_owners(self, process: Process, manifest: LoadedManifest) -> list[str]:
        """``orchestration.owners``; a bare name becomes ``team:<name>`` (Dagster accepts emails and teams)."""
        return [o if "@" in o or o.startswith("team:") else f"team:{o}" for o in process.orchestration.owners]

    def get_tags(self, process: Process, manifest: LoadedManifest) -> dict[str, str]:
        """Manifest tags as Dagster label tags (``{tag: ""}``); tags Dagster cannot store are left out."""
        return {tag: "" for tag in process.tags if _TAG_KEY.match(tag)}

    def get_kinds(self, process: Process, manifest: LoadedManifest) -> set[str]:
        """``dpone`` plus the source and sink connection types (``files``, ``duckdb``, ``postgres``...)."""
        connections = manifest.manifest.connections
        return {"dpone", connections[process.source.connection].type, connections[process.sink.connection].type}

    def get_description(self, process: Process, manifest: LoadedManifest) -> str:
        """The process description, or a generated one naming source, sink and strategy."""
        if process.description:
            return process.description
        source = process.source.table or process.source.path or "query"
        return f"dpone process {process.name}: {source} -> {process.sink.table} ({process.sink.strategy})"

    def get_metadata(self, process: Process, manifest: LoadedManifest) -> dict[str, object]:
        """Definition metadata: where the process lives, its strategy, its contract's column schema."""
        metadata: dict[str, object] = {
            MANIFEST_KEY: str(manifest.path.resolve()),
            PROCESS_KEY: process.name,
            REGISTRY_KEY: [str(p) for p in manifest.registry_paths],
            "dpone/strategy": process.sink.strategy,
            "dpone/source": f"{process.source.connection}:{process.source.table or process.source.path or 'query'}",
            "dpone/sink": f"{process.sink.connection}:{process.sink.table}",
            "dagster/table_name": sink_table(process).display(),
        }
        if process.sink.primary_key:
            metadata["dpone/primary_key"] = list(process.sink.primary_key)
        if process.schema_contract and process.schema_contract.columns:
            metadata["dpone/contract_enforcement"] = process.schema_contract.enforcement
            metadata["dagster/column_schema"] = dg.TableSchema(
                columns=[
                    dg.TableColumn(
                        name,
                        rule.type or "unknown",
                        description=None,
                        constraints=dg.TableColumnConstraints(nullable=rule.nullable, unique=rule.unique),
                    )
                    for name, rule in process.schema_contract.columns.items()
                ]
            )
            source = self.get_source_key(process, manifest)
            lineage = lineage_of_columns(process, list(process.schema_contract.columns), source) if source else None
            if lineage is not None:  # known before any run: the contract's columns a table source feeds
                metadata["dagster/column_lineage"] = lineage
        return metadata

    def get_code_version(self, process: Process, manifest: LoadedManifest) -> str:
        """The first 16 hex digits of the process's configuration hash (``__dpone__loads.manifest_sha256``
        hashes the whole file; this one changes only when this process's own definition does)."""
        return process_sha256(process)[:16]

    def get_op_tags(self, process: Process, manifest: LoadedManifest) -> dict[str, str] | None:
        """Tags of the op (step) that runs the process; none by default."""
        return None

    def get_partitions_def(self, process: Process, manifest: LoadedManifest) -> dg.PartitionsDefinition | None:
        """Time-window or static partitions from ``partitions`` (see :mod:`dpone_dagster.partitions`);
        none for a scale-out process, whose partitions are chunks of one load."""
        return None if self.get_scale_out(process, manifest) else partitions_def_for(process)

    def get_scale_out(self, process: Process, manifest: LoadedManifest) -> bool:
        """Whether the process loads as parallel extract steps and one finalize (:mod:`dpone_dagster.scale_out`)."""
        partitions = process.partitions
        if partitions is None:
            return False
        return partitions.ranges is not None or (self.scale_out and partitions.values is not None)

    def get_asset_spec(self, process: Process, manifest: LoadedManifest) -> dg.AssetSpec:
        """The whole spec of one process; override this or one of the ``get_*`` methods it calls.

        >>> DponeTranslator().get_asset_spec(process, manifest).group_name  # doctest: +SKIP
        'sales'
        """
        source_key = self.get_source_key(process, manifest)
        spec = dg.AssetSpec(
            key=self.get_asset_key(process, manifest),
            deps=[source_key] if source_key is not None else [],
            description=self.get_description(process, manifest),
            metadata=self.get_metadata(process, manifest),
            group_name=self.get_group_name(process, manifest),
            owners=self.get_owners(process, manifest),
            tags=self.get_tags(process, manifest),
            kinds=self.get_kinds(process, manifest),
            partitions_def=self.get_partitions_def(process, manifest),
            code_version=self.get_code_version(process, manifest),
        )
        return spec.with_io_manager_key(self.io_manager_key) if self.io_manager_key else spec

    def get_check_specs(
        self,
        process: Process,
        manifest: LoadedManifest,
        asset_key: dg.AssetKey,
    ) -> list[dg.AssetCheckSpec]:
        """One asset check per contract rule; its result comes from the verdicts of the same run.

        The checks share the asset's partitions, so a run of the checks alone can target a
        partition (the table's slice is checked) and each partition keeps its own result.
        """
        specs: list[dg.AssetCheckSpec] = []
        partitions_def = self.get_partitions_def(process, manifest)
        for rule in contract_rules(process):
            specs.append(
                dg.AssetCheckSpec(
                    check_name(rule.rule_id),
                    asset=asset_key,
                    description=f"dpone contract rule {rule.rule_id}: {rule.description}",
                    metadata={RULE_KEY: rule.rule_id},
                    blocking=self.get_check_blocking(process, manifest),
                    partitions_def=partitions_def,
                )
            )
        return specs

    def get_check_blocking(self, process: Process, manifest: LoadedManifest) -> bool:
        """Whether a failed contract check blocks downstream assets in the same run (``blocking_checks``)."""
        return self.blocking_checks

    def get_retry_policy(self, process: Process, manifest: LoadedManifest) -> dg.RetryPolicy | None:
        """``retry`` of the process as a Dagster RetryPolicy (None when ``attempts`` is 0)."""
        retry = process.retry
        if retry.attempts == 0:
            return None
        if not retry.backoff_seconds:
            return dg.RetryPolicy(max_retries=retry.attempts)
        backoff = dg.Backoff.EXPONENTIAL if retry.backoff == "exponential" else None  # None: fixed delay
        return dg.RetryPolicy(max_retries=retry.attempts, delay=retry.backoff_seconds, backoff=backoff)

    def get_backfill_policy(self, process: Process, manifest: LoadedManifest) -> dg.BackfillPolicy | None:
        """Single-run backfills for time partitions (``--partition-range`` works), else Dagster's default.

        A single run still loads each key of the range as its own dpone run, in key order, so it
        leaves the same target as one run per key. ``full_refresh`` and ``snapshot_diff`` are left
        out: each key's load rewrites the whole table, so a range has no meaning for them.
        """
        if not isinstance(self.get_partitions_def(process, manifest), dg.TimeWindowPartitionsDefinition):
            return None
        return None if process.sink.strategy in _WHOLE_TABLE_STRATEGIES else dg.BackfillPolicy.single_run()

    def get_pool(self, process: Process, manifest: LoadedManifest) -> str | None:
        """``orchestration.concurrency_key`` as the Dagster pool (enforced by the instance's pool limits)."""
        return process.orchestration.concurrency_key
