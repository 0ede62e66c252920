"""The public Python API: ``run``, ``plan``, ``validate``, read helpers and the types they return.

Every entry point (CLI, Airflow operator, Dagster assets, ``dpone orchestrate``) calls these; none
re-implements a step. The wrappers (``dpone_provider``, ``dpone_dagster``) import dpone only from
here, :mod:`dpone_core.spi` and the manifest models (checked by import-linter).
"""

from dpone_core.api.checks import check
from dpone_core.api.reads import committed_files, committed_loads, loads, read_target, states, target_row_count
from dpone_core.api.run import ManifestLike, load, plan, processes, run, validate
from dpone_core.connectors.endpoints import sink_table, source_table
from dpone_core.connectors.lineage import sink_dataset, source_dataset
from dpone_core.introspection import ContractRule, contract_rules
from dpone_core.model import LineageDataset
from dpone_core.runtime.partitions import partition_keys, partition_window
from dpone_core.runtime.progress import ProgressCallback, ProgressEvent
from dpone_core.runtime.records import process_sha256
from dpone_core.runtime.report import ErrorEntry, GateVerdict, RunReport, RunResult
from dpone_core.verification.report import TableCheckReport

__all__ = [
    "ContractRule",
    "ErrorEntry",
    "GateVerdict",
    "LineageDataset",
    "ManifestLike",
    "ProgressCallback",
    "ProgressEvent",
    "RunReport",
    "RunResult",
    "TableCheckReport",
    "check",
    "committed_files",
    "committed_loads",
    "contract_rules",
    "load",
    "loads",
    "partition_keys",
    "partition_window",
    "plan",
    "process_sha256",
    "processes",
    "read_target",
    "run",
    "sink_dataset",
    "sink_table",
    "source_dataset",
    "source_table",
    "states",
    "target_row_count",
    "validate",
]
