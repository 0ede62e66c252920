"""OpenLineage for every entry point: the datasets a process reads and writes, their facets, and events.

One builder serves ``dpone run`` (which emits START / COMPLETE / FAIL itself when OpenLineage is
configured), the Airflow provider (which hands the same facets to Airflow's OpenLineage listener),
the Dagster integration and catalog publication. Only :mod:`.datasets` and :mod:`.query_tables`
work without the ``lineage`` extra; the rest imports ``openlineage-python`` lazily.
"""

from dpone_core.lineage.datasets import ProcessDatasets, process_datasets

__all__ = ["ProcessDatasets", "process_datasets"]
