"""``:name`` parameters of a query source, bound as the driver's placeholders (values never enter the SQL)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dpone_core.errors import ConfigurationError

# A `:name` parameter, or text where a colon is not one: string literals (also E'' and $$-quoted),
# quoted identifiers and comments are matched first and kept as they are.
_QUERY_TOKENS = re.compile(
    r"(?P<keep>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)"
    r"|(?<![:\w]):(?P<param>[A-Za-z_]\w*)",
    re.S,
)


def bind_named(query: str, placeholder: Callable[[str], str], params: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``query`` with each ``:name`` replaced by ``placeholder(name)``, and the names used (in order).

    A parameter the query uses but ``params`` lacks fails naming it.

    >>> bind_named("SELECT ':x', a FROM t WHERE b = :x -- :y", lambda n: f"$p_{n}", {"x": 1})
    ("SELECT ':x', a FROM t WHERE b = $p_x -- :y", ['x'])
    """
    used: list[str] = []

    def bind(match: re.Match[str]) -> str:
        name = match.group("param")
        if name is None:
            return match.group(0)
        if name not in used:
            used.append(name)
        return placeholder(name)

    bound = _QUERY_TOKENS.sub(bind, query)
    missing = [name for name in used if name not in params]
    if missing:
        raise ConfigurationError(
            f"the source query uses :{missing[0]} but no value was given for it",
            step="extract",
            fix=f"add {missing[0]} under source.params, or pass it in run(query_params=...)",
        )
    return bound, used
