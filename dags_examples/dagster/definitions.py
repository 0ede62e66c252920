"""Dagster definitions for the dpone examples: the quickstart (CSV -> DuckDB) and a Postgres load.

Run ``dagster dev -f dags_examples/dagster/definitions.py`` (needs dagster-webserver), or
materialise from Python with ``dagster.materialize``. ``DPONE_QUICKSTART_MANIFEST`` points the
quickstart assets at another copy of the manifest (the tests use a tmp copy).
"""

import os
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from dpone_dagster import DponeIOManager, DponeResource, DponeTranslator, build_dpone_assets

HERE = Path(__file__).resolve().parent
QUICKSTART = Path(os.environ.get("DPONE_QUICKSTART_MANIFEST", HERE.parent / "quickstart" / "orders.yaml"))
POSTGRES = HERE / "postgres" / "orders_from_postgres.yaml"

# Setting io_manager_key on the specs lets downstream assets take the tables as plain inputs.
translator = DponeTranslator(io_manager_key="dpone_io_manager")
quickstart_assets = build_dpone_assets(QUICKSTART, translator=translator)
postgres_assets = build_dpone_assets(POSTGRES, translator=translator)


@dg.asset(ins={"orders": dg.AssetIn(key=["analytics", "orders"])}, group_name="sales", kinds={"python"})
def revenue_by_status(orders: pa.Table) -> dg.MaterializeResult:
    """Revenue per order status, computed from the table dpone loaded (read as Arrow)."""
    grouped = orders.group_by("status").aggregate([("amount", "sum")]).sort_by("status")
    total = pc.sum(orders.column("amount")).as_py()
    return dg.MaterializeResult(
        metadata={
            "statuses": grouped.num_rows,
            "total_revenue": float(total or 0),
            "by_status": dg.MetadataValue.json(
                {
                    str(s): float(a)
                    for s, a in zip(
                        grouped.column("status").to_pylist(), grouped.column("amount_sum").to_pylist(), strict=True
                    )
                }
            ),
        }
    )


defs = dg.Definitions(
    assets=[*quickstart_assets, *postgres_assets, revenue_by_status],
    resources={"dpone": DponeResource(), "dpone_io_manager": DponeIOManager()},
)
