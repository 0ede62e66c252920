"""dbt-like process selection: ``name``, ``tag:x``, ``+name`` (with upstream), ``name+`` (with downstream).

Several selectors separated by spaces or commas select the union. The result is always in
dependency order (upstream first), ties broken by manifest order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from dpone_core.errors import ManifestError
from dpone_core.manifest.models import Manifest
from dpone_core.manifest.process import Process
from dpone_core.model.strict import suggest


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    frontier = list(start)
    while frontier:
        node = frontier.pop()
        for nxt in edges.get(node, set()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def selected_upstreams(name: str, graph: Mapping[str, Sequence[str]], selected: set[str]) -> set[str]:
    """The nearest selected processes ``name`` depends on, through processes left out of the selection.

    With ``a -> b -> c`` and only ``a`` and ``c`` selected, ``c`` still waits for ``a``.

    >>> sorted(selected_upstreams("c", {"a": (), "b": ("a",), "c": ("b",)}, {"a", "c"}))
    ['a']
    """
    found: set[str] = set()
    seen: set[str] = set()
    stack = list(graph.get(name, ()))
    while stack:
        upstream = stack.pop()
        if upstream in seen:
            continue
        seen.add(upstream)
        if upstream in selected:
            found.add(upstream)
        else:
            stack.extend(graph.get(upstream, ()))
    return found


def topological_order(processes: list[Process], graph: Mapping[str, Sequence[str]] | None = None) -> list[Process]:
    """Order processes so every process comes after those it depends on (stable, Kahn's algorithm).

    ``graph`` (every process's ``depends_on``, selected or not) keeps the order through processes
    left out of ``processes``: with ``a -> b -> c`` and only ``a`` and ``c``, ``c`` comes after ``a``.
    """
    names = {p.name for p in processes}
    edges = graph if graph is not None else {p.name: tuple(p.depends_on) for p in processes}
    remaining = {p.name: selected_upstreams(p.name, edges, names) for p in processes}
    ordered: list[Process] = []
    while remaining:
        ready = [p for p in processes if p.name in remaining and not remaining[p.name]]
        if not ready:
            raise ManifestError("depends_on has a cycle among: " + ", ".join(sorted(remaining)))
        for process in ready:
            ordered.append(process)
            del remaining[process.name]
        for deps in remaining.values():
            deps.difference_update(p.name for p in ready)
    return ordered


def select(manifest: Manifest, selector: str | None) -> list[Process]:
    """Return the processes matching ``selector`` (all when None), upstream first.

    >>> # select(m, "+orders")  -> orders and everything it depends on
    """
    processes = list(manifest.processes)
    if selector is None or not selector.strip():
        return topological_order(processes)
    by_name = {p.name: p for p in processes}
    aliases = {p.selector: p.name for p in processes if p.selector}
    upstream = {p.name: set(p.depends_on) for p in processes}
    downstream: dict[str, set[str]] = {p.name: set() for p in processes}
    for process in processes:
        for dep in process.depends_on:
            downstream.setdefault(dep, set()).add(process.name)

    chosen: set[str] = set()
    for token in (t for t in re.split(r"[\s,]+", selector.strip()) if t):
        if token.startswith("tag:"):
            tag = token[4:]
            matched = {p.name for p in processes if tag in p.tags}
            if not matched:
                tags = sorted({t for p in processes for t in p.tags})
                hint = suggest(tag, tags)
                raise ManifestError(
                    f"selector '{token}' matches no process"
                    + (f"; did you mean 'tag:{hint}'?" if hint else f" (tags: {', '.join(tags) or 'none'})"),
                    fix="run `dpone manifest render --all` to see names and tags",
                )
            chosen |= matched
            continue
        with_up, with_down = token.startswith("+"), token.endswith("+")
        core = token.strip("+")
        name = core if core in by_name else aliases.get(core)
        if name is None:
            hint = suggest(core, [*by_name, *aliases])
            raise ManifestError(
                f"selector '{token}' matches no process"
                + (f"; did you mean '{hint}'?" if hint else f" (processes: {', '.join(by_name)})"),
                fix="run `dpone manifest render --all` to see names and tags",
            )
        group = {name}
        if with_up:
            group |= _closure({name}, upstream)
        if with_down:
            group |= _closure({name}, downstream)
        chosen |= group
    return topological_order([p for p in processes if p.name in chosen], {p.name: p.depends_on for p in processes})


def select_one(manifest: Manifest, selector: str | None) -> Process:
    """Return exactly one process; a single-process manifest needs no selector."""
    if selector is None and len(manifest.processes) == 1:
        return manifest.processes[0]
    if selector is None:
        names = ", ".join(p.name for p in manifest.processes)
        raise ManifestError(
            f"the manifest has {len(manifest.processes)} processes ({names}) and no selector was given",
            fix="pass --selector <name>",
        )
    matched = select(manifest, selector)
    if len(matched) != 1:
        names = ", ".join(p.name for p in matched)
        raise ManifestError(
            f"selector '{selector}' matched {len(matched)} processes ({names}); dpone run executes one",
            fix="select a single process by name, or run several with `dpone orchestrate stage`",
        )
    return matched[0]
