"""Late-resolved references (``${env:VAR}``, ``${file:path}``) and redaction of their values.

Manifests carry references, never secret values. A reference is resolved only when a connector
opens its connection, and every value resolved this way is registered with the process-wide
redactor, so that any later log line, report, artifact or exception message that contains it shows
``***`` instead.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

REFERENCE_PATTERN = re.compile(r"\$\{(env|file):([^}]+)\}")
_FULL_REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<at>@)")
MASK = "***"
# Values shorter than this are not masked: masking "1" or "a" would shred every message.
_MIN_SECRET_LENGTH = 3

_lock = threading.Lock()
_secrets: set[str] = set()


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


def register_secret(value: str) -> None:
    """Remember a secret value so :func:`redact` masks it from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


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


def redact(text: str) -> str:
    """Mask every registered secret and any password inside a URL.

    >>> register_secret("hunter22")
    >>> redact("connect failed for postgres://bob:hunter22@db/x")
    'connect failed for postgres://bob:***@db/x'
    """
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(lambda m: m.group("scheme") + MASK + m.group("at"), text)
