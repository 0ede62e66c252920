"""Generated bad inputs (manifests, data files, identifiers, connections, API values) for test_bad_inputs.

Each :class:`Case` writes a small project, names the process to run and the exit code a user should
get: 2 for a manifest or configuration problem (nothing ran), 1 for bad data or a missing object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GOOD_CSV = "id,v,amount,ts\n1,a,1.50,2026-01-01T00:00:00Z\n2,b,2.25,2026-01-02T00:00:00Z\n"


def base_manifest() -> dict[str, Any]:
    """A valid files -> DuckDB merge with a contract, incremental cursor and evidence."""
    return {
        "version": 1,
        "defaults": {"runtime_evidence": {"output_dir": "evidence"}, "quarantine": {"dir": "quarantine"}},
        "connections": {
            "inbox": {"type": "files", "root": "in"},
            "wh": {"type": "duckdb", "path": "wh.duckdb"},
        },
        "processes": [
            {
                "name": "p",
                "source": {"connection": "inbox", "path": "data.csv", "format": "csv", "incremental": {"cursor": "ts"}},
                "sink": {"connection": "wh", "table": "main.t", "strategy": "merge", "primary_key": ["id"]},
                "schema_contract": {
                    "enforcement": "quarantine",
                    "columns": {
                        "id": {"type": "int64", "nullable": False},
                        "v": {"type": "string", "allowed": ["a", "b", "c"]},
                        "amount": {"type": "decimal", "precision": 10, "scale": 2, "min": 0},
                        "ts": {"type": "timestamp", "tz": "UTC"},
                    },
                },
            }
        ],
    }


@dataclass
class Case:
    """One bad input: how to build the project, and the exit code it must end with."""

    id: str
    expect: int
    manifest: dict[str, Any] | None = field(default_factory=base_manifest)
    manifest_text: str | None = None
    files: dict[str, bytes] = field(default_factory=lambda: {"in/data.csv": GOOD_CSV.encode()})
    env: dict[str, str] = field(default_factory=dict)
    run_kwargs: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None

    def write(self, folder: Path) -> Path:
        """Write the manifest and files under ``folder``; return the manifest path."""
        for name, content in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        manifest = folder / "m.yaml"
        text = self.manifest_text if self.manifest_text is not None else yaml.safe_dump(self.manifest, sort_keys=False)
        manifest.write_text(text, encoding="utf-8")
        if self.setup is not None:
            self.setup(folder)
        return manifest


def _with(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    """The base manifest with the dotted ``path`` set to ``value`` (or deleted)."""
    doc = base_manifest()
    node: Any = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        if delete:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif delete:
        node.pop(last, None)
    else:
        node[last] = value
    return doc


WRONG_VALUES: list[tuple[str, Any]] = [
    ("list", [1, 2]),
    ("dict", {"x": 1}),
    ("int", 7),
    ("negative", -3),
    ("null", None),
    ("bool", True),
    ("empty", ""),
    ("space", "   "),
    ("unicode", "tãblé"),
    ("long", "x" * 5000),
    ("float", 1.5),
]

KEYS = [
    "version",
    "defaults",
    "defaults.quarantine",
    "defaults.runtime_evidence",
    "connections",
    "connections.inbox",
    "connections.inbox.type",
    "connections.inbox.root",
    "connections.wh.path",
    "connections.wh.threads",
    "connections.wh.memory_limit",
    "processes",
    "processes.0",
    "processes.0.name",
    "processes.0.source",
    "processes.0.source.connection",
    "processes.0.source.path",
    "processes.0.source.format",
    "processes.0.source.incremental",
    "processes.0.source.incremental.cursor",
    "processes.0.source.batch_rows",
    "processes.0.sink",
    "processes.0.sink.connection",
    "processes.0.sink.table",
    "processes.0.sink.strategy",
    "processes.0.sink.primary_key",
    "processes.0.schema_contract",
    "processes.0.schema_contract.enforcement",
    "processes.0.schema_contract.columns",
    "processes.0.schema_contract.columns.id",
    "processes.0.schema_contract.columns.id.type",
    "processes.0.schema_contract.columns.amount.precision",
    "processes.0.schema_contract.columns.v.allowed",
]

# Exit codes other than 2 for (key, kind of value): values a key accepts although they look odd
# (-1: the load may run or fail, it must only fail cleanly), or that fail when the run uses them (1).
_EXPECTED: dict[tuple[str, str], int] = {
    **{("version", label): -1 for label in ("bool",)},
    **{("defaults", label): -1 for label in ("null",)},
    **{("defaults.quarantine", label): -1 for label in ("null",)},
    **{("defaults.runtime_evidence", label): -1 for label in ("null",)},
    **{("connections.inbox.root", label): -1 for label in ("empty", "space", "unicode", "long")},
    **{("connections.wh.path", label): -1 for label in ("unicode", "long")},
    **{("connections.wh.threads", label): -1 for label in ("null", "int", "bool")},
    **{("connections.wh.memory_limit", label): -1 for label in ("null", "empty", "space")},
    **{("processes.0.name", label): -1 for label in ("unicode",)},
    **{("processes.0.source.path", label): -1 for label in ("unicode", "long")},
    **{("processes.0.source.incremental", label): -1 for label in ("null",)},
    **{("processes.0.source.incremental.cursor", label): 1 for label in ("unicode", "long")},
    **{("processes.0.source.batch_rows", label): -1 for label in ("int", "bool")},
    **{("processes.0.sink.table", label): -1 for label in ("unicode", "long")},
    **{("processes.0.schema_contract", label): -1 for label in ("null",)},
    **{("processes.0.schema_contract.columns.id.type", label): -1 for label in ("null",)},
    **{("processes.0.schema_contract.columns.amount.precision", label): -1 for label in ("int",)},
    **{("processes.0.schema_contract.columns.v.allowed", label): -1 for label in ("null", "list")},
}


def manifest_value_cases() -> Iterator[Case]:
    """Every key of the base manifest given each kind of wrong value, and deleted."""
    for key in KEYS:
        for label, value in WRONG_VALUES:
            yield Case(f"value-{key}-{label}", expect=_EXPECTED.get((key, label), 2), manifest=_with(key, value))
        yield Case(f"delete-{key}", expect=-1, manifest=_with(key, None, delete=True))


def yaml_text_cases() -> Iterator[Case]:
    """Broken YAML and shapes a mapping parser does not expect."""
    texts = {
        "empty": "",
        "comment-only": "# nothing\n",
        "scalar": "just text\n",
        "list-top": "- a\n- b\n",
        "tab-indent": "version: 1\nprocesses:\n\t- name: p\n",
        "unclosed-bracket": "version: [1\n",
        "unclosed-quote": 'version: "1\n',
        "duplicate-key": "version: 1\nversion: 1\n",
        "complex-key": "? [a, b]\n: 1\nversion: 1\n",
        "complex-key-nested": "version: 1\nconnections:\n  ? {a: 1}\n  : {type: files}\n",
        "deep-list": "version: 1\nx: " + "[" * 3000 + "]" * 3000 + "\n",
        "deep-map": "version: 1\nx: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "python-tag": "version: !!python/object/apply:os.system ['true']\n",
        "binary-tag": "version: !!binary aGVsbG8=\n",
        "defaults-list": "version: 1\ndefaults: [a, b]\nconnections: {}\nprocesses: []\n",
        "defaults-string": "version: 1\ndefaults: nope\nconnections: {}\nprocesses: []\n",
        "connections-list": "version: 1\nconnections: [a]\nprocesses: [{name: p}]\n",
        "processes-map": "version: 1\nconnections: {}\nprocesses: {p: 1}\n",
        "processes-strings": "version: 1\nconnections: {}\nprocesses: [a, b]\n",
        "int-keys": "1: 2\nversion: 1\n",
        "null-key": "~: 2\nversion: 1\n",
        "bom": "\ufeffversion: 1\n",
        "nul-byte": "version: 1\x00\n",
        "huge-int": "version: 1" + "0" * 5000 + "\n",
    }
    for label, text in texts.items():
        yield Case(f"yaml-{label}", expect=2, manifest=None, manifest_text=text)


def _csv(label: str, content: bytes, expect: int = 1) -> Case:
    return Case(f"csv-{label}", expect=expect, files={"in/data.csv": content})


def data_file_cases() -> Iterator[Case]:
    """Malformed data files under a valid manifest (exit 1: the data is bad, the manifest is fine)."""
    yield _csv("empty-file", b"")
    yield _csv("header-only", b"id,v,amount,ts\n", expect=0)
    yield _csv("ragged-more", b"id,v,amount,ts\n1,a,1,2026-01-01,extra\n")
    yield _csv("ragged-less", b"id,v,amount,ts\n1,a\n")
    yield _csv("duplicate-headers", b"id,id,amount,ts\n1,2,1,2026-01-01\n")
    yield _csv("unterminated-quote", b'id,v,amount,ts\n1,"a,1,2026-01-01\n')
    yield _csv("utf16", GOOD_CSV.encode("utf-16"))
    yield _csv("binary", bytes(range(256)) * 20)
    yield _csv("nul-bytes", b"id,v,amount,ts\n1,a\x00b,1,2026-01-01\n", expect=0)
    yield _csv("latin1", "id,v,amount,ts\n1,\xe9,1,2026-01-01\n".encode("latin-1"))
    yield _csv("empty-header-name", b"id,,amount,ts\n1,a,1,2026-01-01\n")
    yield _csv("missing-contract-column", b"id,amount,ts\n1,1,2026-01-01\n")
    yield _csv("missing-cursor-column", b"id,v,amount\n1,a,1\n")
    yield _csv("missing-key-column", b"v,amount,ts\na,1,2026-01-01\n")
    yield _csv("meta-column-seq", b"id,v,amount,ts,__dpone_seq\n1,a,1,2026-01-01,3\n")
    yield _csv("meta-column-reason", b"id,v,amount,ts,__dpone_reason\n1,a,1,2026-01-01,x\n")
    yield _csv("bad-ints", b"id,v,amount,ts\nx,a,1,2026-01-01\n", expect=0)
    yield _csv("bad-timestamps", b"id,v,amount,ts\n1,a,1,yesterday\n", expect=0)
    yield _csv("huge-decimal", b"id,v,amount,ts\n1,a,1e400,2026-01-01\n", expect=0)
    yield _csv("duplicate-keys", b"id,v,amount,ts\n1,a,1,2026-01-01\n1,b,2,2026-01-02\n", expect=0)
    yield _csv("only-newlines", b"\n\n\n")
    yield _csv("crlf", GOOD_CSV.replace("\n", "\r\n").encode(), expect=0)
    yield _csv("utf8-bom", b"\xef\xbb\xbf" + GOOD_CSV.encode(), expect=0)
    yield _csv("semicolons", GOOD_CSV.replace(",", ";").encode())
    for fmt, content in (("parquet", b"not parquet"), ("jsonl", b"{not json\n"), ("jsonl", b"")):
        doc = base_manifest()
        doc["processes"][0]["source"].update(path=f"data.{fmt}", format=fmt)
        yield Case(f"{fmt}-garbage-{len(content)}", expect=1, manifest=doc, files={f"in/data.{fmt}": content})


def _process_edit(label: str, expect: int, edit: Callable[[dict[str, Any]], None], **kwargs: Any) -> Case:
    doc = base_manifest()
    edit(doc["processes"][0])
    return Case(label, expect=expect, manifest=doc, **kwargs)


def identifier_cases() -> Iterator[Case]:
    """Columns and tables that do not exist or cannot be names."""
    p = "processes"
    yield _process_edit("pk-missing", 1, lambda p: p["sink"].update(primary_key=["nope"]))
    yield _process_edit("pk-empty-name", 2, lambda p: p["sink"].update(primary_key=[""]))
    yield _process_edit("cursor-missing", 1, lambda p: p["source"]["incremental"].update(cursor="nope"))
    yield _process_edit("partition-missing", -1, lambda p: p.update(partitions={"column": "nope", "values": ["a"]}))
    yield _process_edit(
        "partition-replace-missing",
        1,
        lambda p: (
            p["sink"].update(strategy="partition_replace"),
            p.update(partitions={"column": "zz", "grain": "day"}),
        ),
    )
    yield _process_edit(
        "delete-marker-missing", 1, lambda p: p["sink"].update(delete_marker={"column": "gone", "mode": "hard"})
    )
    yield _process_edit("source-columns-missing", 1, lambda p: p["source"].update(columns=["id", "nope"]))
    for table in ("analytics.", ".t", '"x', 'a."b".c', "a b c", "t;drop table x", "x" * 300, "\u0000t"):
        yield _process_edit(f"sink-table-{table[:12]}", -1, lambda p, t=table: p["sink"].update(table=t))
    yield _process_edit("absolute-path", 2, lambda p: p["source"].update(path="/etc/*.csv"))
    yield _process_edit("parent-path", 1, lambda p: p["source"].update(path="../elsewhere/*.csv"))
    yield _process_edit("no-files-match", 1, lambda p: p["source"].update(path="absent*.csv"))
    yield _process_edit("directory-path", 1, lambda p: p["source"].update(path="sub"), setup=_mkdir("in/sub"))
    yield _process_edit("scd2-on-meta", -1, lambda p: p["sink"].update(strategy="scd2"))
    yield _process_edit(
        "contract-on-unknown", 1, lambda p: p["schema_contract"]["columns"].update(zz={"type": "int64"})
    )
    yield _process_edit("regex-invalid", 2, lambda p: p["schema_contract"]["columns"]["v"].update(regex="(["))
    yield _process_edit("decimal-bad-scale", 2, lambda p: p["schema_contract"]["columns"]["amount"].update(scale=20))
    _ = p


def _mkdir(relative: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / relative).mkdir(parents=True, exist_ok=True)

    return make


def _duckdb_source(query: str | None = None, table: str | None = None, params: dict[str, Any] | None = None) -> Any:
    def edit(process: dict[str, Any]) -> None:
        process["source"] = {
            "connection": "wh",
            **({"query": query} if query else {}),
            **({"table": table} if table else {}),
        }
        if params is not None:
            process["source"]["params"] = params
        process["sink"]["table"] = "main.copy"
        process.pop("schema_contract")

    return edit


def _seed_db(folder: Path) -> None:
    import duckdb

    with duckdb.connect(str(folder / "wh.duckdb")) as con:
        con.execute("CREATE TABLE IF NOT EXISTS src AS SELECT range AS id, 'v' AS v FROM range(3)")


def query_cases() -> Iterator[Case]:
    """Query and table sources that cannot run."""
    yield _process_edit("duckdb-table-missing", 1, _duckdb_source(table="main.nope"), setup=_seed_db)
    yield _process_edit("duckdb-schema-missing", 1, _duckdb_source(table="nope.src"), setup=_seed_db)
    yield _process_edit("duckdb-bad-sql", 1, _duckdb_source(query="SELEC id FROM src"), setup=_seed_db)
    yield _process_edit("duckdb-sql-missing-table", 1, _duckdb_source(query="SELECT * FROM nope"), setup=_seed_db)
    yield _process_edit(
        "duckdb-missing-param", 2, _duckdb_source(query="SELECT * FROM src WHERE id > :n"), setup=_seed_db
    )
    yield _process_edit(
        "duckdb-param-type",
        1,
        _duckdb_source(query="SELECT * FROM src WHERE id > :n", params={"n": "x"}),
        setup=_seed_db,
    )
    yield _process_edit("duckdb-not-select", 1, _duckdb_source(query="DROP TABLE src"), setup=_seed_db)
    yield _process_edit("duckdb-two-statements", 1, _duckdb_source(query="SELECT 1; SELECT 2"), setup=_seed_db)
    yield _process_edit("duckdb-file-missing", 1, _duckdb_source(table="src"))


def connection_cases() -> Iterator[Case]:
    """Connections that cannot be used."""
    pg = {"type": "postgres", "host": "127.0.0.1", "port": "${env:DPONE_T_PORT}", "database": "x", "user": "u"}
    for label, value in (("text", "abc"), ("empty", ""), ("float", "5432.5"), ("huge", "999999"), ("negative", "-1")):
        doc = base_manifest()
        doc["connections"]["wh"] = pg
        yield Case(f"pg-port-env-{label}", expect=2, manifest=doc, env={"DPONE_T_PORT": value})
    doc = base_manifest()
    doc["connections"]["wh"] = pg
    yield Case("pg-port-env-unset", expect=2, manifest=doc)
    yield Case("duckdb-path-is-dir", expect=1, setup=_mkdir("wh.duckdb"))
    yield Case("duckdb-path-under-file", expect=1, manifest=_with("connections.wh.path", "in/data.csv/x.duckdb"))
    yield Case("files-root-missing", expect=1, manifest=_with("connections.inbox.root", "nowhere"))
    yield Case("files-root-is-file", expect=1, manifest=_with("connections.inbox.root", "in/data.csv"))
    yield Case("duckdb-memory-limit-bad", expect=2, manifest=_with("connections.wh.memory_limit", "lots"))
    yield Case("duckdb-corrupt-file", expect=1, setup=lambda f: (f / "wh.duckdb").write_bytes(b"garbage" * 100))
    yield Case("evidence-dir-is-file", expect=1, setup=lambda f: (f / "evidence").write_text("x"))
    yield Case("quarantine-dir-is-file", expect=-1, setup=lambda f: (f / "quarantine").write_text("x"))


def api_cases() -> Iterator[Case]:
    """Values a caller passes to run() (the CLI passes the same)."""
    values: list[tuple[str, dict[str, Any], int]] = [
        ("selector-unknown", {"selector": "nope"}, 2),
        ("selector-empty", {"selector": ""}, -1),
        ("selector-tag-none", {"selector": "tag:none"}, 2),
        ("partition-without-partitions", {"partition": "2026-01-01"}, 2),
        ("phase-unknown", {"phase": "later"}, 2),
        ("phase-finalize-no-partitions", {"phase": "finalize"}, 2),
        ("chunks-without-finalize", {"chunks": ["a"]}, 2),
        ("column-mode-bad", {"column_name_mode": "upper"}, 2),
        ("query-params-on-files", {"query_params": {"a": 1}}, 2),
        ("retry-attempts-huge", {"retry_attempts": 1000}, 2),
        ("retry-attempts-negative", {"retry_attempts": -1}, 2),
        ("retry-backoff-bad", {"retry_backoff": "sometimes"}, 2),
        ("run-id-slashes", {"run_id": "../../etc"}, -1),
        ("run-id-empty", {"run_id": ""}, -1),
        ("run-id-long", {"run_id": "r" * 2000}, -1),
        ("registry-missing", {"registry_paths": ["nope.yaml"]}, 2),
    ]
    for label, kwargs, expect in values:
        yield Case(f"api-{label}", expect=expect, run_kwargs=kwargs)
    doc = base_manifest()
    doc["processes"][0]["partitions"] = {"column": "ts", "grain": "day", "start": "2026-01-01"}
    for label, partition, expect in (("garbage", "yesterday", 2), ("before-start", "2025-01-01", -1), ("empty", "", 2)):
        yield Case(
            f"api-partition-{label}", expect=expect, manifest=copy.deepcopy(doc), run_kwargs={"partition": partition}
        )


def all_cases() -> list[Case]:
    """Every generated case (ids are unique)."""
    cases = [
        *manifest_value_cases(),
        *yaml_text_cases(),
        *data_file_cases(),
        *identifier_cases(),
        *query_cases(),
        *connection_cases(),
        *api_cases(),
    ]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    return cases
