"""Late-resolved references (``${env:VAR}``, ``${file:path}``); resolved secrets are registered for redaction.

Manifests carry references, never secret values. A reference is resolved only when a connector
opens its connection, and every value resolved this way is registered with the process-wide
redactor (:mod:`dpone_core.redaction`), so that any later log line, report, artifact or
exception message that contains it shows ``***`` instead.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from dpone_core.redaction import register_secret

Resolver = Callable[[str, Path | None], str]
"""Turns the name of a reference (what follows ``scheme:``) into its value, given the manifest's folder.

Raise :class:`UnresolvedReference` (or ``LookupError`` / ``OSError``, turned into one) when it
cannot."""

_lock = threading.Lock()
_resolvers: dict[str, Resolver] = {}
_patterns: dict[str, re.Pattern[str]] = {}


def register_resolver(scheme: str, resolver: Resolver) -> None:
    """Resolve ``${<scheme>:<name>}`` with ``resolver`` from now on (``env`` and ``file`` are built in).

    The Airflow provider registers ``airflow`` (a Connection's secret, read when a run opens it).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", scheme):
        raise ValueError(f"reference scheme {scheme!r} must be lower-case letters, digits and _")
    with _lock:
        _resolvers[scheme] = resolver
        _patterns.clear()


def schemes() -> tuple[str, ...]:
    """The reference schemes that resolve in this process."""
    return tuple(sorted(_resolvers))


def _pattern(full: bool = False) -> re.Pattern[str]:
    key = "full" if full else "any"
    with _lock:
        found = _patterns.get(key)
        if found is None:
            names = "|".join(re.escape(s) for s in sorted(_resolvers))
            body = r"\$\{(" + names + r"):([^}]+)\}"
            found = _patterns[key] = re.compile(f"^{body}$" if full else body)
        return found


class UnresolvedReference(LookupError):
    """A reference names an environment variable or file that does not exist."""

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"{reference}: {reason}")


def is_reference(value: object) -> bool:
    """True when ``value`` is exactly one reference such as ``${env:PGPASSWORD}``."""
    return isinstance(value, str) and bool(_pattern(full=True).match(value))


def contains_reference(value: object) -> bool:
    """True when ``value`` is a string with at least one reference inside it."""
    return isinstance(value, str) and bool(_pattern().search(value))


def resolve_references(value: str, *, base_dir: Path | None = None, secret: bool = True) -> str:
    """Replace every reference inside ``value`` with its current value.

    ``${env:NAME}`` reads the environment; ``${file:path}`` reads a file (relative paths resolve
    against ``base_dir``, usually the manifest's folder) and strips one trailing newline; other
    schemes go to their registered resolver (:func:`register_resolver`). Resolved values are
    registered for redaction unless ``secret`` is False.

    >>> os.environ["DPONE_DOCTEST"] = "s3cr3t"
    >>> resolve_references("pw=${env:DPONE_DOCTEST}")
    'pw=s3cr3t'
    """

    def _one(match: re.Match[str]) -> str:
        scheme, name = match.group(1), match.group(2).strip()
        try:
            resolved = _resolvers[scheme](name, base_dir)
        except UnresolvedReference as exc:
            raise UnresolvedReference(match.group(0), exc.reason) from None
        except (LookupError, OSError) as exc:
            raise UnresolvedReference(match.group(0), str(exc)) from None
        if secret:
            register_secret(resolved)
        return resolved

    return _pattern().sub(_one, value)


def _environment(name: str, base_dir: Path | None) -> str:
    if name not in os.environ:
        raise UnresolvedReference(name, f"environment variable {name} is not set")
    return os.environ[name]


def _file(name: str, base_dir: Path | None) -> str:
    path = Path(name).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").removesuffix("\n")
    except OSError as exc:
        raise UnresolvedReference(name, f"cannot read file {path}: {exc.strerror}") from None


register_resolver("env", _environment)
register_resolver("file", _file)
