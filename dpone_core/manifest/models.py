"""The manifest root, its defaults block and registry files."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SerializeAsAny, ValidationError, model_validator

from dpone_core.connections.profile import ConnectionProfile
from dpone_core.connections.registry import UnknownConnectionType, connector, parse_profile
from dpone_core.manifest.contract import SchemaContract, SchemaEvolution
from dpone_core.manifest.observability import Observability
from dpone_core.manifest.process import Process, Quarantine, Retry, RuntimeEvidence
from dpone_core.manifest.references import REFERABLE_KEYS, misplaced_references
from dpone_core.model.capabilities import Capabilities, sink_strategies
from dpone_core.model.strict import Name, StrictModel, suggest

Profile = Annotated[SerializeAsAny[ConnectionProfile], BeforeValidator(parse_profile)]
"""A connection: validated by the profile model of the connector its ``type`` names."""


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
    connections: dict[Name, Profile] = Field(default_factory=dict)


class Manifest(StrictModel):
    """A dpone manifest: connections and the processes that move data between them."""

    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    connections: dict[Name, Profile] = Field(default_factory=dict)
    processes: list[Process] = Field(min_length=1)
    observability: Observability = Field(default_factory=Observability)

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
        """What the connectors' capabilities say about this process's source and sink."""
        problems: list[str] = []
        source = self.connections.get(process.source.connection)
        sink = self.connections.get(process.sink.connection)
        if source is not None:
            reads_paths = _capabilities(source).path_based
            if reads_paths and process.source.path is None:
                problems.append(f"{where}.source: a {source.type} connection needs path and format")
            if not reads_paths and process.source.path is not None:
                problems.append(f"{where}.source: path applies to files and object stores, not {source.type}")
        if source is not None:
            problems += _option_problems(f"{where}.source.options", source.type, "source", process.source.options)
        if sink is not None:
            extra = dict(process.sink.options.model_extra or {})
            problems += _option_problems(f"{where}.sink.options", sink.type, "sink", extra)
            can = _capabilities(sink)
            if can.path_based and process.sink.format is None:
                formats = " or ".join(can.table_formats) or "parquet"
                problems.append(f"{where}.sink: a {sink.type} sink needs format: {formats}")
            if not can.path_based and process.sink.format is not None:
                problems.append(f"{where}.sink: format applies to file and object-store sinks, not {sink.type}")
            strategies = sink_strategies(can, process.sink.format)
            kind = f"{sink.type} {process.sink.format}" if can.table_formats and process.sink.format else sink.type
            if can.table_formats and process.sink.format and process.sink.format not in can.table_formats:
                problems.append(f"{where}.sink: a {sink.type} sink writes {' or '.join(can.table_formats)}")
            elif process.sink.strategy not in strategies:
                problems.append(
                    f"{where}.sink: a {kind} sink supports strategies {', '.join(sorted(strategies))}, "
                    f"not {process.sink.strategy}"
                )
            incremental = process.source.incremental
            lookback = incremental.lookback if incremental is not None and incremental.mode == "cursor" else None
            if lookback and not can.skips_reread_rows:
                problems.append(
                    f"{where}.sink: a {sink.type} sink appends files and cannot skip re-read rows; drop lookback"
                )
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


def _capabilities(profile: ConnectionProfile) -> Capabilities:
    try:
        return connector(profile.type).capabilities
    except UnknownConnectionType:  # pragma: no cover - the profile validated, so its connector exists
        return Capabilities()


def _option_problems(where: str, kind: str, role: str, options: dict[str, object]) -> list[str]:
    """Problems of a connector's own options against the model its spec declares for ``role``."""
    if not options:
        return []
    try:
        spec = connector(kind)
    except UnknownConnectionType:  # pragma: no cover - the profile validated
        return []
    model = spec.source_options if role == "source" else spec.sink_options
    if model is None:
        keys = ", ".join(sorted(options))
        return [f"{where}: unknown key(s) {keys}; the {kind} connector takes no {role} options of its own"]
    try:
        model.model_validate(options)
    except ValidationError as exc:
        return [
            "".join([where, *(f".{p}" for p in item["loc"])]) + ": " + str(item["msg"]).removeprefix("Value error, ")
            for item in exc.errors(include_url=False)
        ]
    return []
