"""Late-resolved references (``${env:VAR}``, ``${file:path}``); resolved secrets are registered for redaction.

Manifests carry references, never secret values. A reference is resolved only when a connector
opens its connection, and every value resolved this way is registered with the process-wide
redactor (:mod:`dpone_core.redaction`), so that any later log line, report, artifact or
exception message that contains it shows ``***`` instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dpone_core.redaction import register_secret

REFERENCE_PATTERN = re.compile(r"\$\{(env|file):([^}]+)\}")
_FULL_REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")


class UnresolvedReference(LookupError):
    """A reference names an environment variable or file that does not exist."""

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"{reference}: {reason}")


def is_reference(value: object) -> bool:
    """True when ``value`` is exactly one reference such as ``${env:PGPASSWORD}``."""
    return isinstance(value, str) and bool(_FULL_REFERENCE.match(value))


def contains_reference(value: object) -> bool:
    """True when ``value`` is a string with at least one reference inside it."""
    return isinstance(value, str) and bool(REFERENCE_PATTERN.search(value))


def resolve_references(value: str, *, base_dir: Path | None = None, secret: bool = True) -> str:
    """Replace every reference inside ``value`` with its current value.

    ``${env:NAME}`` reads the environment; ``${file:path}`` reads a file (relative paths resolve
    against ``base_dir``, usually the manifest's folder) and strips one trailing newline. Resolved
    values are registered for redaction unless ``secret`` is False.

    >>> os.environ["DPONE_DOCTEST"] = "s3cr3t"
    >>> resolve_references("pw=${env:DPONE_DOCTEST}")
    'pw=s3cr3t'
    """

    def _one(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2).strip()
        if kind == "env":
            if name not in os.environ:
                raise UnresolvedReference(match.group(0), f"environment variable {name} is not set")
            resolved = os.environ[name]
        else:
            path = Path(name).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            try:
                resolved = path.read_text(encoding="utf-8").removesuffix("\n")
            except OSError as exc:
                raise UnresolvedReference(match.group(0), f"cannot read file {path}: {exc.strerror}") from None
        if secret:
            register_secret(resolved)
        return resolved

    return REFERENCE_PATTERN.sub(_one, value)
