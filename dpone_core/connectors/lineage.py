"""Lineage names of a process's source and sink, computed from the manifest without connecting.

Orchestrators need dataset names at parse time (Airflow Assets, Dagster asset metadata) and in
OpenLineage events, long before (or without) a connection is opened. The names follow the
OpenLineage naming spec and match what the connectors' ``lineage_name()`` return once connected:

* files: namespace ``file``, name = absolute glob path
* duckdb: namespace ``duckdb://<absolute file>``, name = ``schema.table``
* postgres: ``postgres://host:port``, ``database.schema.table``
* mssql: ``sqlserver://host:port``, ``database.schema.table``
* clickhouse: ``clickhouse://host:port``, ``database.table``
* s3: ``s3://bucket``, ``prefix/path``
* kafka: ``kafka://first-bootstrap-server``, ``topic``

References (``${env:PGHOST}``) are resolved when they can be, without registering secrets (hosts
and paths are not secrets); an unresolved reference is kept as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dpone_core.connections.references import UnresolvedReference, resolve_references
from dpone_core.manifest.base import StrictModel
from dpone_core.manifest.identifiers import split_table_name
from dpone_core.manifest.loader import LoadedManifest
from dpone_core.manifest.process import Process


@dataclass(frozen=True)
class LineageDataset:
    """One dataset as lineage sees it: an OpenLineage namespace and name, plus where it lives.

    >>> LineageDataset("postgres://db:5432", "shop.public.orders", "postgres", "shop", "public", "orders").uri
    'postgres://db:5432/shop/public/orders'
    """

    namespace: str
    name: str
    system: str
    database: str | None = None
    schema: str | None = None
    table: str | None = None

    @property
    def uri(self) -> str:
        """A URI for schedulers' asset catalogs: ``<namespace>/<name with '/' between parts>``.

        SQL names become ``/database/schema/table`` (the form Airflow's own Postgres provider uses);
        paths are appended as they are.
        """
        if self.system in {"files", "s3"}:
            path = self.name if self.name.startswith("/") else "/" + self.name
            return ("file://" if self.system == "files" else self.namespace) + path
        parts = [p for p in (self.database, self.schema, self.table) if p]
        if self.system == "duckdb":
            parts = [p for p in (self.schema, self.table) if p]
        return self.namespace.rstrip("/") + "/" + "/".join(parts or [self.name])


def _value(profile: StrictModel, field: str, base_dir: Path) -> str:
    raw = getattr(profile, field, None)
    if raw is None:
        return ""
    text = str(raw)
    try:
        return resolve_references(text, base_dir=base_dir, secret=False)
    except UnresolvedReference:
        return text


def _path(profile: StrictModel, field: str, base_dir: Path) -> Path:
    path = Path(_value(profile, field, base_dir)).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def _split(table: str, explicit_schema: str | None = None) -> tuple[str | None, str]:
    if explicit_schema is not None:
        return explicit_schema, table
    return split_table_name(table)


def _dataset(
    loaded: LoadedManifest, connection: str, table: str | None, path: str | None, explicit_schema: str | None = None
) -> LineageDataset:
    profile = loaded.manifest.connections[connection]
    base = loaded.base_dir
    kind = profile.type
    if kind == "files":
        full = _path(profile, "root", base) / (path or table or "")
        return LineageDataset("file", str(full), "files")
    if kind == "s3":
        prefix = _value(profile, "prefix", base).strip("/")
        key = "/".join(p for p in (prefix, (path or table or "").lstrip("/")) if p)
        return LineageDataset(f"s3://{_value(profile, 'bucket', base)}", key, "s3")
    schema, name = _split(table, explicit_schema) if table else (None, "query")
    if kind == "duckdb":
        db_path = _path(profile, "path", base)
        return LineageDataset(
            f"duckdb://{db_path}", f"{schema}.{name}" if schema else name, "duckdb", str(db_path), schema, name
        )
    if kind == "kafka":
        first = _value(profile, "bootstrap_servers", base).split(",")[0].strip()
        return LineageDataset(f"kafka://{first}", name, "kafka", None, None, name)
    host, port = _value(profile, "host", base), _value(profile, "port", base)
    database = _value(profile, "database", base)
    if kind == "clickhouse":
        db = schema or database
        return LineageDataset(f"clickhouse://{host}:{port}", f"{db}.{name}", "clickhouse", db, None, name)
    scheme = "sqlserver" if kind == "mssql" else kind
    schema = schema or ("dbo" if kind == "mssql" else "public")
    return LineageDataset(f"{scheme}://{host}:{port}", f"{database}.{schema}.{name}", kind, database, schema, name)


def source_dataset(loaded: LoadedManifest, process: Process) -> LineageDataset:
    """The dataset a process reads (a query source is named ``query`` in its database's namespace).

    >>> # source_dataset(load_manifest("orders.yaml"), process).namespace  -> 'file'
    """
    spec = process.source
    return _dataset(loaded, spec.connection, spec.table, spec.path)


def sink_dataset(loaded: LoadedManifest, process: Process) -> LineageDataset:
    """The dataset a process writes.

    >>> # sink_dataset(load_manifest("orders.yaml"), process).name  -> 'analytics.orders'
    """
    spec = process.sink
    return _dataset(loaded, spec.connection, spec.table, None, spec.schema_name)
