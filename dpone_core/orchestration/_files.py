"""Small file helpers shared by the lock and job-state stores: safe names and JSON reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(key: str) -> str:
    """Turn a run id or concurrency key into a file-name stem (no slashes, no leading dot).

    >>> safe_name("orders/2026-06-05 daily")
    'orders_2026-06-05_daily'
    """
    cleaned = _UNSAFE.sub("_", key.strip()).strip("_.")
    if not cleaned:
        raise ValueError(f"{key!r} cannot be used as a file name")
    return cleaned[:200]


def read_json(path: Path) -> dict[str, Any] | None:
    """Parse a JSON object from ``path``; None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return document
