"""DponeIOManager: downstream assets read dpone-managed tables as Arrow, pandas or polars.

dpone assets write their tables through dpone (staging, gates, one commit); this IO manager only
reads. It finds the manifest and the process in the upstream asset's definition metadata (set by
:class:`dpone_dagster.DponeTranslator`), reads the target with ``dpone_core.read_target`` and
hands it over in the type the input is annotated with::

    @dg.asset(ins={"orders": dg.AssetIn(key=["analytics", "orders"], input_manager_key="dpone_io_manager")})
    def revenue(orders: pa.Table) -> float: ...        # or pd.DataFrame / pl.DataFrame

A partitioned downstream input gets only the rows of its partition keys; input metadata
``{"columns": [...]}`` selects columns.
"""

from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from dpone_core.api import read_target
from dpone_core.manifest.loader import load_manifest
from dpone_core.manifest.selectors import select_one
from dpone_dagster.partitions import filter_to_partitions
from dpone_dagster.translator import MANIFEST_KEY, PROCESS_KEY, REGISTRY_KEY, metadata_text, metadata_texts


def convert(table: pa.Table, typing_type: Any) -> Any:
    """Hand ``table`` over as the annotated type: pandas or polars DataFrame, else the Arrow table."""
    module = getattr(typing_type, "__module__", "") or ""
    if module.startswith("pandas"):
        return table.to_pandas()
    if module.startswith("polars"):
        import polars as pl

        return pl.from_arrow(table)
    return table


class DponeIOManager(dg.ConfigurableIOManager):
    """Reads the target table of an upstream dpone asset; never writes (dpone writes its own tables)."""

    registry_paths: list[str] = Field(
        default_factory=list, description="Registry files (empty: the paths the assets were built with)."
    )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """dpone assets yield MaterializeResult, so there is nothing to store; other values are refused."""
        if obj is None:
            return
        raise dg.DagsterInvariantViolationError(
            f"DponeIOManager only reads dpone-managed tables; asset {context.asset_key.to_user_string()} returned "
            f"a {type(obj).__name__}. Give that asset another io_manager_key."
        )

    def load_input(self, context: dg.InputContext) -> Any:
        """The upstream dpone target as Arrow (or pandas / polars per the input's annotation)."""
        upstream = context.upstream_output
        metadata = dict(upstream.definition_metadata or {}) if upstream is not None else {}
        manifest = metadata_text(metadata.get(MANIFEST_KEY))
        process_name = metadata_text(metadata.get(PROCESS_KEY))
        if manifest is None or process_name is None:
            raise dg.DagsterInvariantViolationError(
                f"input {context.name} does not come from a dpone asset (no {MANIFEST_KEY}/{PROCESS_KEY} "
                "metadata); DponeIOManager reads only tables that dpone loads"
            )
        registry = self.registry_paths or metadata_texts(metadata.get(REGISTRY_KEY))
        loaded = load_manifest(manifest, registry)
        table = read_target(loaded, process_name)
        process = select_one(loaded.manifest, process_name)
        if context.has_asset_partitions and process.partitions is not None:
            table = filter_to_partitions(table, process.partitions, list(context.asset_partition_keys))
        columns = (context.definition_metadata or {}).get("columns")
        if columns:
            table = table.select(metadata_texts(columns))
        context.log.info(f"dpone {process_name}: read {table.num_rows} rows from the target")
        return convert(table, context.dagster_type.typing_type)
