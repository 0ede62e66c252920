"""``datahub_mcp.json``: DataHub metadata change proposals for the tables a run loaded.

The file is a JSON list in the shape DataHub's ``file`` ingestion source reads (what its
``MetadataChangeProposalWrapper`` writes with the simplified structure): each item has
``entityType`` ``dataset``, ``entityUrn`` ``urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,PROD)``,
``changeType`` ``UPSERT``, ``aspectName`` and ``aspect: {"json": {...}}``. Three aspects per target:

* ``datasetProperties``: name, qualified name, description, and dpone's ids as custom properties;
* ``schemaMetadata``: the columns (``nativeDataType`` the database's type, DataHub's type class
  from the Arrow or contract type, nullability, description, key membership);
* ``upstreamLineage``: the datasets the process reads (``COPY`` for a table or file read as is,
  ``TRANSFORMED`` for a query).

Dataset names are the OpenLineage names (what DataHub's OpenLineage integration uses too), so
events and proposals meet on one entity; ``,``, ``(`` and ``)`` are percent-encoded as DataHub's URN
encoder does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dpone_core.model import LineageDataset
from dpone_core.ops.catalog_model import CatalogColumn, CatalogTable

ENV = "PROD"
ACTOR = "urn:li:corpuser:dpone"
PLATFORMS = {"files": "file", "file": "file", "sqlserver": "mssql"}
"""dpone system (or namespace scheme) -> DataHub platform, where the names differ."""
_TYPE_CLASSES = (
    (("bool",), "BooleanType"),
    (("int", "uint", "float", "double", "decimal", "numeric", "real", "bigint", "smallint", "halffloat"), "NumberType"),
    (("string", "utf8", "varchar", "text", "char", "json", "uuid"), "StringType"),
    (("timestamp", "datetime"), "TimeType"),
    (("date",), "DateType"),
    (("time",), "TimeType"),
    (("binary", "blob", "bytea", "bytes"), "BytesType"),
    (("list", "array"), "ArrayType"),
    (("struct",), "RecordType"),
    (("map",), "MapType"),
)


def platform(dataset: LineageDataset) -> str:
    """The DataHub platform of a dataset (``postgres``, ``duckdb``, ``file``, ``s3`` ...)."""
    system = dataset.system or dataset.namespace.split("://", 1)[0]
    return PLATFORMS.get(system, system)


def dataset_urn(dataset: LineageDataset, env: str = ENV) -> str:
    """``urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,<env>)``."""
    name = dataset.name.replace(",", "%2C").replace("(", "%28").replace(")", "%29")
    return f"urn:li:dataset:(urn:li:dataPlatform:{platform(dataset)},{name},{env})"


def type_class(column: CatalogColumn) -> str:
    """DataHub's type class for a column, from its Arrow type (else its declared type)."""
    text = (column.arrow_type or column.data_type or "").lower().removeprefix("large_")
    for prefixes, name in _TYPE_CLASSES:
        if text.startswith(prefixes):
            return name
    return "NullType"


def _proposal(urn: str, aspect_name: str, aspect: dict[str, Any]) -> dict[str, Any]:
    return {
        "entityType": "dataset",
        "entityUrn": urn,
        "changeType": "UPSERT",
        "aspectName": aspect_name,
        "aspect": {"json": aspect},
    }


def _field(column: CatalogColumn) -> dict[str, Any]:
    field: dict[str, Any] = {
        "fieldPath": column.name,
        "nativeDataType": column.data_type or "unknown",
        "type": {"type": {f"com.linkedin.schema.{type_class(column)}": {}}},
        "nullable": not column.not_null,
        "isPartOfKey": column.primary_key,
    }
    if column.description:
        field["description"] = column.description
    return field


def schema_metadata(table: CatalogTable) -> dict[str, Any]:
    """The ``schemaMetadata`` aspect of a table."""
    aspect: dict[str, Any] = {
        "schemaName": table.dataset.name,
        "platform": f"urn:li:dataPlatform:{platform(table.dataset)}",
        "version": 0,
        "hash": "",
        "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": ""}},
        "fields": [_field(c) for c in table.columns],
    }
    if table.primary_key:
        aspect["primaryKeys"] = list(table.primary_key)
    return aspect


def dataset_properties(table: CatalogTable, run_facts: dict[str, str | None]) -> dict[str, Any]:
    """The ``datasetProperties`` aspect: names, description and dpone's ids (strings only)."""
    custom = {
        "dpone_process": table.process,
        "dpone_strategy": table.strategy,
        "dpone_primary_key": ",".join(table.primary_key) or None,
        "openlineage_namespace": table.dataset.namespace,
        **{f"dpone_{k}": v for k, v in run_facts.items()},
    }
    aspect: dict[str, Any] = {
        "name": table.table,
        "qualifiedName": table.dataset.name,
        "customProperties": {k: str(v) for k, v in custom.items() if v is not None},
    }
    if table.description:
        aspect["description"] = table.description
    return aspect


def upstream_lineage(inputs: Sequence[LineageDataset], copied: bool, when: datetime) -> dict[str, Any]:
    """The ``upstreamLineage`` aspect: one upstream per input dataset."""
    stamp = {"time": int(when.timestamp() * 1000), "actor": ACTOR}
    kind = "COPY" if copied else "TRANSFORMED"
    return {"upstreams": [{"auditStamp": stamp, "dataset": dataset_urn(d), "type": kind} for d in inputs]}


def _moment(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.now(UTC)
    except ValueError:
        return datetime.now(UTC)


def datahub_proposals(
    tables: Sequence[CatalogTable],
    inputs: Sequence[LineageDataset],
    *,
    copied: bool,
    run_facts: dict[str, str | None],
    finished_at: str | None,
) -> list[dict[str, Any]]:
    """Every proposal of a publication, in a stable order (per table: properties, schema, lineage)."""
    proposals = []
    for table in tables:
        urn = dataset_urn(table.dataset)
        proposals.append(_proposal(urn, "datasetProperties", dataset_properties(table, run_facts)))
        proposals.append(_proposal(urn, "schemaMetadata", schema_metadata(table)))
        if inputs:
            lineage = upstream_lineage(inputs, copied, _moment(finished_at))
            proposals.append(_proposal(urn, "upstreamLineage", lineage))
    return proposals
