"""The prose of docs/manifest.md: section order, key meanings, cross-key rules, intro and example.

Kept apart from gen_manifest_reference.py, which walks the pydantic models and renders; everything
a writer edits lives here.
"""

from __future__ import annotations

from pydantic import BaseModel

from dpone_core.connections.registry import BUILT_IN, connector
from dpone_core.manifest import contract, models, process

# (model, heading, anchor): the order sections appear in. Models found by walking the field
# annotations but missing here are appended at the end, so a new model is never silently left out.
SECTIONS: list[tuple[type[BaseModel], str, str]] = [
    (models.Manifest, "Top level", "top-level"),
    (models.Defaults, "`defaults`", "defaults"),
    (models.Registry, "Registry files", "registry"),
    # dpone's own connectors (an installed plugin documents itself).
    *[(connector(name).profile, f"`connections: type {name}`", f"connection-{name}") for name in BUILT_IN],
    (process.Process, "`processes[]`", "process"),
    (process.Source, "`processes[].source`", "source"),
    (process.CsvOptions, "`processes[].source.csv`", "source-csv"),
    (process.Incremental, "`processes[].source.incremental`", "source-incremental"),
    (process.Sink, "`processes[].sink`", "sink"),
    (process.DeleteMarker, "`processes[].sink.delete_marker`", "sink-delete-marker"),
    (process.Scd2Columns, "`processes[].sink.scd2`", "sink-scd2"),
    (process.SinkOptions, "`processes[].sink.options`", "sink-options"),
    (process.PhysicalDesign, "`processes[].sink.options.physical_design`", "sink-physical-design"),
    (contract.SchemaContract, "`processes[].schema_contract`", "schema-contract"),
    (contract.ColumnRule, "`processes[].schema_contract.columns.<name>`", "column-rule"),
    (contract.SchemaEvolution, "`processes[].schema_evolution`", "schema-evolution"),
    (process.Partitions, "`processes[].partitions`", "partitions"),
    (process.Orchestration, "`processes[].orchestration`", "orchestration"),
    (process.Retry, "`processes[].retry`", "retry"),
    (process.RuntimeEvidence, "`processes[].runtime_evidence`", "runtime-evidence"),
    (process.Quarantine, "`processes[].quarantine`", "quarantine"),
]

# Meaning of keys whose model field carries no description (keyed "Model.field"). A model's own
# description, when present, comes first and this text is appended.
MEANING: dict[str, str] = {
    "Manifest.version": "Manifest format version. Only `1` exists.",
    "Manifest.defaults": "Settings merged under every process; see [defaults](#defaults).",
    "Manifest.connections": "Connection profiles by name. The `type` key picks the profile kind.",
    "Manifest.processes": "The loads this manifest defines, in any order (dependency order is computed).",
    "Registry.version": "Registry format version. Only `1` exists.",
    "Registry.defaults": "Defaults shared by every manifest loaded with this registry.",
    "Registry.connections": "Connection profiles shared by every manifest loaded with this registry.",
    "Defaults.runtime_evidence": "Merged under each process's `runtime_evidence`.",
    "Defaults.quarantine": "Merged under each process's `quarantine`.",
    "Defaults.retry": "Merged under each process's `retry`.",
    "Defaults.schema_evolution": "Merged under each process's `schema_evolution`.",
    "Defaults.schema_contract": "Merged under each process's `schema_contract` (column rules merge by column name).",
    "FilesProfile.type": "Selects this profile.",
    "DuckDBProfile.type": "Selects this profile.",
    "DuckDBProfile.memory_limit": "Unset: DuckDB's own default (80% of RAM). Either way DuckDB spills sorts, joins and "
    "staging to `<database file>.tmp`; a primary-key index must fit in memory while a load writes it, so a small "
    "limit fails large keyed loads (with `DPONE_OUT_OF_MEMORY`, naming this setting).",
    "PostgresProfile.type": "Selects this profile.",
    "PostgresProfile.host": "Server host name.",
    "PostgresProfile.port": "Server port.",
    "PostgresProfile.database": "Database name.",
    "PostgresProfile.user": "Login role.",
    "PostgresProfile.password": "Password of `user`.",
    "PostgresProfile.sslmode": "libpq `sslmode`.",
    "PostgresProfile.options": "libpq `options` string, e.g. `-c search_path=analytics`.",
    "PostgresProfile.connect_timeout_seconds": "Seconds to wait for a connection.",
    "PostgresProfile.statement_timeout_seconds": "Server-side statement timeout for dpone's sessions.",
    "PostgresProfile.lock_timeout_seconds": "Server-side lock timeout for dpone's sessions.",
    "MSSQLProfile.type": "Selects this profile.",
    "MSSQLProfile.host": "Server host name.",
    "MSSQLProfile.port": "Server port.",
    "MSSQLProfile.database": "Database name.",
    "MSSQLProfile.user": "Login name.",
    "MSSQLProfile.password": "Password of `user`.",
    "MSSQLProfile.driver": "ODBC driver name.",
    "MSSQLProfile.encrypt": "Encrypt the connection.",
    "MSSQLProfile.trust_server_certificate": "Accept a server certificate without validating it.",
    "ClickHouseProfile.type": "Selects this profile.",
    "ClickHouseProfile.host": "Server host name.",
    "ClickHouseProfile.port": "HTTP(S) port.",
    "ClickHouseProfile.database": "Database name.",
    "ClickHouseProfile.user": "User name.",
    "ClickHouseProfile.password": "Password of `user`.",
    "ClickHouseProfile.secure": "Use HTTPS.",
    "S3Profile.type": "Selects this profile.",
    "S3Profile.bucket": "Bucket name.",
    "S3Profile.prefix": "Key prefix that paths are relative to.",
    "S3Profile.region": "AWS region.",
    "S3Profile.endpoint_url": "Endpoint of an S3-compatible store (MinIO and the like).",
    "S3Profile.access_key_id": "Access key id.",
    "S3Profile.secret_access_key": "Secret key.",
    "S3Profile.session_token": "Temporary session token.",
    "KafkaProfile.type": "Selects this profile.",
    "KafkaProfile.bootstrap_servers": "Comma-separated `host:port` list.",
    "KafkaProfile.security_protocol": "Kafka security protocol.",
    "KafkaProfile.sasl_mechanism": "SASL mechanism, e.g. `PLAIN` or `SCRAM-SHA-512`.",
    "KafkaProfile.sasl_username": "SASL user name.",
    "KafkaProfile.sasl_password": "SASL password.",
    "Process.name": "Unique name: letters, digits, `_`, `-` and `.`, starting with a letter or `_`. It keys the "
    "state row, audit rows, staging names, quarantine and evidence folders.",
    "Process.description": "Free text for people and orchestrator UIs.",
    "Process.tags": "Labels for `tag:<label>` selectors.",
    "Process.depends_on": "Processes that run before this one. Drives `+name` / `name+` selectors and "
    "orchestrator dependencies. Unknown names and cycles are errors.",
    "Process.source": "Where rows come from; see [source](#source).",
    "Process.sink": "Where rows go and how; see [sink](#sink).",
    "Process.schema_contract": "Column rules checked on every row; see [schema_contract](#schema-contract). "
    "Unset: no column rules, but key columns are still checked (not null, unique) in strict mode.",
    "Process.schema_evolution": "What to do when the source schema differs from the target; "
    "see [schema_evolution](#schema-evolution).",
    "Process.partitions": "Slices for `--partition` runs and `partition_replace`; see [partitions](#partitions).",
    "Process.orchestration": "Hints for schedulers; see [orchestration](#orchestration).",
    "Process.retry": "Retries of transient failures; see [retry](#retry).",
    "Process.runtime_evidence": "Where evidence files go; see [runtime_evidence](#runtime-evidence).",
    "Process.quarantine": "Where rejected rows go; see [quarantine](#quarantine).",
    "Source.connection": "Name of a connection under `connections`.",
    "Source.table": "Table to read, `schema.table` or `table` (database connections).",
    "Source.params": "Values bound to the `:name` placeholders of `query`. Never pasted into the SQL text.",
    "Source.format": "File format of a `path` source.",
    "Source.path": "Matching files are read one after another in name order; every file must have the columns "
    "of the first one, and its values are cast to the first file's types.",
    "Source.csv": "CSV parsing options (`format: csv` only); see [csv](#source-csv).",
    "Source.columns": "Read only these columns, in this order. Unset: every column.",
    "Source.incremental": "Read only rows past the committed cursor; see [incremental](#source-incremental).",
    "CsvOptions.delimiter": "Field separator (one character).",
    "CsvOptions.quote_char": "Quote character (one character).",
    "CsvOptions.header": "The first line holds column names. `false`: columns are named `f0`, `f1`, ...",
    "CsvOptions.null_values": "Unquoted field texts read as null. A quoted empty field stays an empty string.",
    "Sink.connection": "Name of a connection under `connections`.",
    "Sink.strategy": "How staged rows are written to the target; see [strategies](strategies.md).",
    "Sink.primary_key": "Key columns. Needed by `merge`, `scd2` and `snapshot_diff`; used by `incremental` to "
    "skip rows already loaded. Key columns must be non-null and unique within a load, and a table dpone "
    "creates gets them as `PRIMARY KEY` and `NOT NULL`.",
    "Sink.delete_marker": "A source column that marks deletes; see [delete_marker](#sink-delete-marker).",
    "Sink.scd2": "History column names for `strategy: scd2`; see [scd2](#sink-scd2).",
    "Sink.options": "Rarely changed sink settings; see [options](#sink-options).",
    "DeleteMarker.column": "Source column whose value `true` marks the row as deleted. Values must read as "
    "booleans (`true/false`, `t/f`, `yes/no`, `y/n`, `1/0`).",
    "Scd2Columns.valid_from": "Set to the load's start time (UTC) when a version is inserted.",
    "Scd2Columns.valid_to": "Set to the load's start time when a version is superseded or deleted; null while current.",
    "Scd2Columns.is_current": "`true` for the current version of a key, `false` for closed versions.",
    "SinkOptions.physical_design": "Whether and how DDL runs; see [physical_design](#sink-physical-design).",
    "SchemaContract.columns": "Rules per column name. Columns not listed are loaded unchecked, with their source type.",
    "ColumnRule.nullable": "`false`: a null value breaks the contract (`<column>.not_null`).",
    "SchemaEvolution.new_columns": "A source column the target lacks: `add` it as a nullable column, `ignore` it "
    "(it is not loaded), or `fail`.",
    "SchemaEvolution.removed_columns": "A target column the source no longer sends: `keep` it (new rows get "
    "null; refused if the column is NOT NULL) or `fail`.",
    "SchemaEvolution.type_changes": "A source type the target column cannot hold as is: `widen_only` widens "
    "the target column when nothing can be lost and fails otherwise; `quarantine` keeps the target type and "
    "sends values that do not fit to quarantine; `fail` refuses. See [schema evolution](schema-evolution.md).",
    "Partitions.column": "Column a partition is cut on (the rows of a partition key are selected by it).",
    "Partitions.grain": "Time grain; keys look like `2024-03-05T07` (hour), `2024-03-05` (day; for week the "
    "Monday that starts the ISO week), `2024-03` (month), `2024` (year). Windows are UTC.",
    "Partitions.start": "Used to list every partition key from `start` up to now (for orchestrators' "
    "backfills). Partition windows are in UTC.",
    "Partitions.ranges": "Keys are `0` .. `ranges - 1`; `--partition 2` reads the third range of the integer "
    "`column`, cut from its current min and max (Postgres sources; other sources fail with "
    "`DPONE_CONFIGURATION`). See [Postgres key ranges](connectors/postgres.md#key-range-partitions).",
    "PhysicalDesign.apply": "In this version `online` refuses widening only on sinks where it rewrites the table "
    "and blocks writers (Postgres); DuckDB widens in both modes.",
    "Partitions.values": "Explicit partition values; `--partition <value>` selects rows equal to it.",
    "Orchestration.concurrency_key": "Runs sharing a key never overlap (scheduler pool / lock name).",
    "Orchestration.group": "Asset group (Dagster) or TaskGroup (Airflow) name.",
    "Orchestration.owners": "Owners shown by orchestrators, e.g. `team:data-eng`.",
    "Orchestration.execution_order": "Inside one `group`, processes with a lower number start first; see "
    "[orchestration](orchestration.md).",
    "Retry.backoff_seconds": "Seconds before the first retry.",
    "Retry.backoff": "`fixed`: every wait is `backoff_seconds`; `exponential`: waits double from "
    "`backoff_seconds` up to 32 times it.",
    "RuntimeEvidence.output_dir": "Folder (relative to the manifest) for evidence files. Unset: no evidence "
    "files are written.",
    "Quarantine.dir": "Folder (relative to the manifest) for quarantine files.",
}

# Rules that span several keys, enforced by model validators (exit 2 when broken).
RULES: dict[type[BaseModel], list[str]] = {
    models.Manifest: [
        "Process names are unique; a process's `selector` may not be another process's name.",
        "`source.connection` and `sink.connection` name a defined connection (did-you-mean on a typo).",
        "`depends_on` names existing processes and has no cycle.",
        "A `files` or `s3` source needs `path` and `format`; `path` is refused for other connection types.",
        "A `files` or `s3` sink needs `format: parquet` and one of the strategies `append`, `incremental`, "
        "`full_refresh`; `format` is refused for other sinks.",
    ],
    connector("duckdb").profile: [
        "`path: ':memory:'` is refused: the state table would vanish with the process.",
    ],
    process.Process: [
        "`strategy: incremental` needs `source.incremental`.",
        "`strategy: append` with an `incremental.lookback` is refused (re-read rows would be appended twice).",
        "`strategy: incremental` with a lookback needs `sink.primary_key` (to skip re-read rows).",
        "`incremental.mode: xmin` needs a `table` source and is refused with `strategy: append` or with "
        "`incremental` without `sink.primary_key` (rows of transactions open at the previous read are read again).",
        "`strategy: partition_replace` needs `partitions`.",
        "`sink.delete_marker.column` may not be part of `sink.primary_key`.",
    ],
    process.Source: [
        "Exactly one of `table`, `query`, `path`.",
        "`path` needs `format`; `format` and `csv` apply only to `path`; `csv` needs `format: csv`.",
        "`params` apply only to `query`.",
    ],
    process.Incremental: [
        "`mode: cursor` needs `cursor`; `mode: xmin` takes no `cursor`, `lookback` or `initial` (Postgres table "
        "sources; see [xmin incremental](connectors/postgres.md#xmin-incremental)).",
        "`lookback` is a duration (`90s`, `30m`, `1h`, `2d`, `1w`) for date and timestamp cursors, or a "
        "non-negative number for numeric cursors.",
    ],
    process.Sink: [
        "`merge`, `scd2` and `snapshot_diff` need `primary_key`; a key column may not be listed twice.",
        "`delete_marker` applies to `merge` and `scd2` only; the `scd2` block to `strategy: scd2` only.",
    ],
    contract.ColumnRule: [
        "`precision` and `scale` apply only to `type: decimal`, which needs `precision`; `scale <= precision`.",
        "`tz` applies only to `type: timestamp`.",
        "`regex` must compile (Python `re` syntax).",
    ],
    process.Partitions: [
        "Exactly one of `grain`, `values`, `ranges`; `start` only with `grain`.",
    ],
}

INTRO = """\
A manifest is one YAML file with connection profiles and the processes that move data between them.
It is validated strictly: an unknown key, a wrong type or a broken cross-key rule stops everything
with exit code 2 before any connection is opened, and the message names the key path and, for a
typo, the closest valid key:

```
error: orders.yaml: processes[0] (orders).sink: unknown key 'optoins'; did you mean 'options'?
```

`dpone manifest validate` lists every problem at once, `dpone manifest render --all` prints the
effective configuration with every default filled in, and `dpone manifest schema` prints the JSON
Schema for editors.

Relative paths (a `files` root, a DuckDB `path`, `quarantine.dir`, `runtime_evidence.output_dir`,
`${file:...}` references) resolve against the folder that holds the manifest, not the current
directory.

## A complete example

```yaml
@EXAMPLE@```

## How values are merged

1. Registry files (`--registry`, repeatable) are read first; a later registry wins over an earlier one.
2. The manifest's own `defaults` and `connections` win over the registries. Connections are replaced
   whole, by name; `defaults` merge key by key.
3. The merged `defaults` are then merged under every process: a key the process sets wins, nested
   mappings merge key by key (so `schema_contract.columns` from `defaults` and from the process
   combine), lists are replaced.

## References and secrets

Any string value of a connection profile may contain `${env:NAME}` (an environment variable) or
`${file:path}` (a file's content, one trailing newline removed; relative paths resolve against the
manifest's folder). References are resolved only when a run opens the connection, so validating or
rendering a manifest never needs the secrets. A missing variable or file fails the run with
`DPONE_CONFIGURATION` (exit 2), naming the key. Integrations add schemes of their own through
dpone's resolver registry (`dpone_core.spi.register_resolver`): the Airflow provider resolves
`${airflow:<conn_id>/<key>}` from an Airflow Connection.

Outside connection profiles, references are resolved in the paths of a process (`source.path`,
`runtime_evidence.output_dir`, `quarantine.dir`, `partitions.chunk_dir`) and in the values of
`source.params`, also when the run uses them, and are not treated as secrets. Anywhere else (table and
column names, SQL text, contracts, strategies) a reference is a validation error naming the key:
names and SQL built from the environment are not resolved, and are never kept as literal text.

Secret keys (@SECRETS@) must be references (or `airflow:<conn_id>` for the Airflow provider); a
literal value is a validation error. Values resolved for secret keys are masked as `***` in every
report, log line, error message and evidence file, and so is the password of any
`scheme://user:password@host` URL. `dpone manifest render` prints references as written.

## Connectors available in this version

| type | as source | as sink |
|---|---|---|
@CONNECTORS@
The other profile types validate, so manifests can be written ahead, but a run that uses one fails
at the connect step with `DPONE_CONFIGURATION` (exit 2).
"""

EXAMPLE = """\
version: 1
defaults:
  runtime_evidence: {output_dir: .dpone/evidence}
  quarantine: {dir: .dpone/quarantine}
  retry: {attempts: 2, backoff_seconds: 5}
connections:
  inbox:
    type: files
    root: data
  warehouse:
    type: duckdb
    path: .dpone/warehouse.duckdb
processes:
  - name: orders
    tags: [sales]
    source:
      connection: inbox
      path: "orders*.csv"
      format: csv
      incremental: {cursor: updated_at, lookback: 1h}
    sink:
      connection: warehouse
      table: analytics.orders
      strategy: merge
      primary_key: [id]
    schema_contract:
      enforcement: quarantine
      columns:
        id: {type: int64, nullable: false}
        amount: {type: decimal, precision: 18, scale: 2, min: 0}
        status: {type: string, allowed: [new, paid, shipped, cancelled]}
        updated_at: {type: timestamp, tz: UTC, nullable: false}
    schema_evolution: {new_columns: add, type_changes: widen_only}
  - name: orders_daily
    depends_on: [orders]
    source:
      connection: warehouse
      query: "select * from analytics.orders where status = :status"
      params: {status: paid}
    sink: {connection: warehouse, table: analytics.paid_orders, strategy: full_refresh}
"""
