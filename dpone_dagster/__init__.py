"""dpone for Dagster: a resource, an asset factory, asset checks from contracts, partitions, an IO manager
and a component, shaped like dagster-dbt, dagster-sling and dagster-dlt.

>>> import dagster as dg
>>> from dpone_dagster import DponeResource, build_dpone_assets
>>> defs = dg.Definitions(assets=build_dpone_assets("dags_examples/quickstart/orders.yaml"),  # doctest: +SKIP
...                       resources={"dpone": DponeResource()})
"""

from dpone_dagster.asset_decorator import build_dpone_assets, dpone_assets, external_source_specs
from dpone_dagster.components.dpone_manifest.component import DponeManifestComponent
from dpone_dagster.event_iterator import DponeEventIterator, check_results, materialize_metadata, report_events
from dpone_dagster.io_manager import DponeIOManager
from dpone_dagster.partitions import filter_to_partitions, partitions_def_for
from dpone_dagster.resource import DponeResource, dpone_run_id
from dpone_dagster.table_checks import build_dpone_asset_checks
from dpone_dagster.translator import DponeTranslator, check_name

__version__ = "0.1.0"

__all__ = [
    "DponeEventIterator",
    "DponeIOManager",
    "DponeManifestComponent",
    "DponeResource",
    "DponeTranslator",
    "__version__",
    "build_dpone_asset_checks",
    "build_dpone_assets",
    "check_name",
    "check_results",
    "dpone_assets",
    "dpone_run_id",
    "external_source_specs",
    "filter_to_partitions",
    "materialize_metadata",
    "partitions_def_for",
    "report_events",
]
