"""Masking secrets: every resolved secret value, and any password in a URL, becomes ``***``.

A value is registered when a reference is resolved for a secret field; from then on
:func:`redact` masks it in every log line, report, artifact and exception message. The bottom of
the import order (``errors`` uses it), so it imports nothing of dpone.
"""

from __future__ import annotations

import re
import threading

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<at>@)")
MASK = "***"
# Values shorter than this are not masked: masking "1" or "a" would shred every message.
_MIN_SECRET_LENGTH = 3

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret value so :func:`redact` masks it from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


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
