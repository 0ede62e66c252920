"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

Airflow imports this module on every start (``import airflow`` fails if it does not import), so it
imports nothing and returns a plain dict. ``package-name`` must equal the distribution name.

Connection types: ``dpone``, and of the types dpone maps (``DponeHook``'s ``airflow_mappings()``)
only those no Airflow provider registers, ``duckdb`` and ``clickhouse``. ``postgres``, ``mssql``,
``aws``, ``kafka`` and ``fs`` belong to their providers (``fs`` ships with Airflow); registering
them here too would make ProvidersManager warn and keep whichever it met first.
"""

DPONE_CONNECTION_TYPES = ("dpone", "duckdb", "clickhouse")
"""Connection types this provider registers (the UI offers their forms)."""


def get_provider_info() -> dict[str, object]:
    """Describe the dpone provider: hooks, operators, sensors, triggers and the ``dpone`` connection type.

    >>> get_provider_info()["package-name"]
    'dpone'
    """
    return {
        "package-name": "dpone",
        "name": "dpone",
        "description": "dpone: table loads with data contracts, evidence and exactly-once state, run from Airflow.",
        "integrations": [
            {
                "integration-name": "dpone",
                "external-doc-url": "https://github.com/dpone/dpone/blob/main/docs/airflow.md",
                "how-to-guide": ["/docs/airflow.md"],
                "tags": ["software"],
            }
        ],
        "hooks": [
            {
                "integration-name": "dpone",
                "python-modules": ["dpone_provider.hooks.dpone", "dpone_provider.hooks.connection_types"],
            }
        ],
        "operators": [
            {
                "integration-name": "dpone",
                "python-modules": ["dpone_provider.operators.run", "dpone_provider.operators.check"],
            }
        ],
        "sensors": [{"integration-name": "dpone", "python-modules": ["dpone_provider.sensors.load"]}],
        "triggers": [{"integration-name": "dpone", "python-modules": ["dpone_provider.triggers.load"]}],
        "task-decorators": [],
        "connection-types": [
            {
                "hook-class-name": "dpone_provider.hooks.dpone.DponeHook",
                "hook-name": "dpone",
                "connection-type": "dpone",
                "conn-fields": {
                    "manifest_dir": {
                        "label": "Manifest folder",
                        "description": "Folder that relative manifest paths resolve against.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "registry_paths": {
                        "label": "Registry files",
                        "description": "Comma-separated registry YAML files (connections and defaults).",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port"],
                    "relabeling": {},
                    "placeholders": {
                        "manifest_dir": "/opt/airflow/dags/manifests",
                        "registry_paths": "/opt/airflow/dags/manifests/registry.yaml",
                    },
                },
            },
            {
                "hook-class-name": "dpone_provider.hooks.connection_types.DuckDBConnectionHook",
                "hook-name": "DuckDB (dpone)",
                "connection-type": "duckdb",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "password", "port", "extra"],
                    "relabeling": {"host": "Database file"},
                    "placeholders": {"host": "/opt/airflow/data/warehouse.duckdb"},
                },
            },
            {
                "hook-class-name": "dpone_provider.hooks.connection_types.ClickHouseConnectionHook",
                "hook-name": "ClickHouse (dpone)",
                "connection-type": "clickhouse",
                "conn-fields": {
                    "secure": {
                        "label": "HTTPS",
                        "description": "Connect over HTTPS instead of HTTP.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Database"},
                    "placeholders": {"host": "clickhouse.internal", "port": "8123", "schema": "default"},
                },
            },
        ],
    }
