"""The shared vocabulary of every layer: tables, read requests, batches, staged loads, lineage names.

The bottom of the import order: it imports nothing of dpone, and anything may import it.
"""

from dpone_core.model.batches import SEQ_COLUMN, Predicate, ReadRequest, empty_batch, iter_batches
from dpone_core.model.lineage import LineageDataset, server_dataset
from dpone_core.model.loads import StagedLoad, StrategyCounts
from dpone_core.model.tables import TableRef, TargetColumn, TargetSchema

__all__ = [
    "SEQ_COLUMN",
    "LineageDataset",
    "Predicate",
    "ReadRequest",
    "StagedLoad",
    "StrategyCounts",
    "TableRef",
    "TargetColumn",
    "TargetSchema",
    "empty_batch",
    "iter_batches",
    "server_dataset",
]
