"""A dataset as lineage sees it: an OpenLineage namespace and name, plus where it lives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineageDataset:
    """One dataset as lineage sees it.

    >>> LineageDataset("postgres://db:5432", "shop.public.orders", "postgres", "shop", "public", "orders").uri
    'postgres://db:5432/shop/public/orders'
    """

    namespace: str
    name: str
    system: str
    database: str | None = None
    schema: str | None = None
    table: str | None = None
    path_based: bool = False
    """Files and objects: ``name`` is a path, appended to the namespace as it is."""

    @property
    def uri(self) -> str:
        """A URI for schedulers' asset catalogs: ``<namespace>/<name with '/' between parts>``.

        SQL names become ``/database/schema/table`` (the form Airflow's own Postgres provider uses);
        paths are appended as they are.
        """
        if self.path_based:
            path = self.name if self.name.startswith("/") else "/" + self.name
            return ("file://" if self.namespace == "file" else self.namespace) + path
        parts = [p for p in (self.database, self.schema, self.table) if p]
        return self.namespace.rstrip("/") + "/" + "/".join(parts or [self.name])


def server_dataset(
    scheme: str, host: str, port: str, database: str | None, schema: str | None, table: str, system: str
) -> LineageDataset:
    """A table on a database server: ``<scheme>://host:port`` and ``database.schema.table``."""
    name = ".".join(p for p in (database, schema, table) if p)
    return LineageDataset(f"{scheme}://{host}:{port}", name, system, database, schema, table)
