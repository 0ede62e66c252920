"""``${dagster:<name>}`` references: secrets handed to dpone through the resource's config.

Dagster users keep secrets in ``dg.EnvVar`` (shown as the variable's name, never its value, in the
UI and run config). ``DponeResource(secrets={"pg_password": dg.EnvVar("PG_PASSWORD")})`` makes that
value available to profiles as ``${dagster:pg_password}``, resolved only when a run opens the
connection, and redacted like every resolved secret.
"""

import threading
from collections.abc import Mapping
from pathlib import Path

from dpone_core.spi import register_resolver

DAGSTER_SCHEME = "dagster"

_lock = threading.Lock()
_secrets: dict[str, str] = {}


def publish_secrets(secrets: Mapping[str, str]) -> None:
    """Make ``secrets`` resolvable as ``${dagster:<name>}`` in this process (later values win)."""
    with _lock:
        _secrets.update(secrets)


def resolve_dagster_secret(name: str, base_dir: Path | None) -> str:
    """``${dagster:<name>}``: the value the resource's ``secrets`` config gave ``name``."""
    with _lock:
        value = _secrets.get(name)
        known = sorted(_secrets)
    if value is None:
        listed = ", ".join(known) if known else "none"
        raise LookupError(f"DponeResource has no secret {name} (its secrets: {listed}); add it to secrets={{...}}")
    return value


register_resolver(DAGSTER_SCHEME, resolve_dagster_secret)
