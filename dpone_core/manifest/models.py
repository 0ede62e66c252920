"""The manifest root, its defaults block and registry files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dpone_core.connections.profiles import ConnectionProfile
from dpone_core.manifest.base import Name, StrictModel, suggest
from dpone_core.manifest.contract import SchemaContract, SchemaEvolution
from dpone_core.manifest.process import Process, Quarantine, Retry, RuntimeEvidence
from dpone_core.manifest.references import REFERABLE_KEYS, misplaced_references

# Which connection types can play which role; checked at validation time so a bad pairing is exit 2.
SOURCE_TYPES = {"files", "duckdb", "postgres", "mssql", "clickhouse", "s3", "kafka"}
PATH_SOURCE_TYPES = {"files", "s3"}
FILE_SINK_STRATEGIES = frozenset({"append", "incremental", "full_refresh"})


class Defaults(StrictModel):
    """Settings merged under every process (a process's own value wins)."""

    runtime_evidence: RuntimeEvidence | None = None
    quarantine: Quarantine | None = None
    retry: Retry | None = None
    schema_evolution: SchemaEvolution | None = None
    schema_contract: SchemaContract | None = None


class Registry(StrictModel):
    """A registry file: connection profiles and defaults shared by many manifests."""

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    connections: dict[Name, ConnectionProfile] = Field(default_factory=dict)


class Manifest(StrictModel):
    """A dpone manifest: connections and the processes that move data between them."""

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    connections: dict[Name, ConnectionProfile] = Field(default_factory=dict)
    processes: list[Process] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_references(self) -> Manifest:
        problems: list[str] = []
        names = [p.name for p in self.processes]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                problems.append(f"process name '{name}' is used twice")
            seen.add(name)
        aliases = {p.selector for p in self.processes if p.selector}
        for alias in aliases & seen:
            owner = next(p.name for p in self.processes if p.selector == alias)
            if owner != alias:
                problems.append(f"selector '{alias}' of process '{owner}' is also another process's name")
        for index, process in enumerate(self.processes):
            where = f"processes[{index}] ({process.name})"
            for role, ref in (("source", process.source.connection), ("sink", process.sink.connection)):
                if ref not in self.connections:
                    hint = suggest(ref, list(self.connections))
                    known = ", ".join(sorted(self.connections)) or "none defined"
                    problems.append(
                        f"{where}.{role}.connection: '{ref}' is not defined"
                        + (f"; did you mean '{hint}'?" if hint else f" (connections: {known})")
                    )
            for dep in process.depends_on:
                if dep not in seen:
                    hint = suggest(dep, names)
                    problems.append(
                        f"{where}.depends_on: unknown process '{dep}'" + (f"; did you mean '{hint}'?" if hint else "")
                    )
            problems.extend(self._role_problems(where, process))
            problems.extend(
                f"{where}.{key}: ${{env:...}} / ${{file:...}} references are resolved only in connection profiles, "
                f"in {', '.join(REFERABLE_KEYS)} and in source.params; write the value itself"
                for key in misplaced_references(process.model_dump(by_alias=True, exclude_defaults=True))
            )
        cycle = _find_cycle({p.name: list(p.depends_on) for p in self.processes})
        if cycle:
            problems.append("depends_on has a cycle: " + " -> ".join(cycle))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _role_problems(self, where: str, process: Process) -> list[str]:
        problems: list[str] = []
        source = self.connections.get(process.source.connection)
        sink = self.connections.get(process.sink.connection)
        if source is not None:
            if source.type in PATH_SOURCE_TYPES and process.source.path is None:
                problems.append(f"{where}.source: a {source.type} connection needs path and format")
            if source.type not in PATH_SOURCE_TYPES and process.source.path is not None:
                problems.append(f"{where}.source: path applies to files/s3 connections, not {source.type}")
        if sink is not None:
            if sink.type in PATH_SOURCE_TYPES and process.sink.format is None:
                problems.append(f"{where}.sink: a {sink.type} sink needs format: parquet")
            if sink.type in PATH_SOURCE_TYPES and process.sink.strategy not in FILE_SINK_STRATEGIES:
                problems.append(
                    f"{where}.sink: a {sink.type} sink supports strategies {', '.join(sorted(FILE_SINK_STRATEGIES))}, "
                    f"not {process.sink.strategy}"
                )
            lookback = process.source.incremental.lookback if process.source.incremental else None
            if sink.type in PATH_SOURCE_TYPES and lookback:
                problems.append(
                    f"{where}.sink: a {sink.type} sink appends files and cannot skip re-read rows; drop lookback"
                )
            if sink.type not in PATH_SOURCE_TYPES and process.sink.format is not None:
                problems.append(f"{where}.sink: format applies to files/s3 sinks, not {sink.type}")
        return problems

    def process(self, name: str) -> Process:
        """Return the process called ``name`` (KeyError when absent)."""
        for candidate in self.processes:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path, or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for root in graph:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, child_index = stack.pop()
            if child_index == 0:
                state[node] = 1
                path.append(node)
            children = [c for c in graph.get(node, []) if c in graph]
            if child_index < len(children):
                stack.append((node, child_index + 1))
                child = children[child_index]
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child]
                if not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return None
