"""Secrets of Airflow Connections as environment variables, for the ``${env:...}`` references of a run.

The registry file dpone writes for a run never holds a secret: it refers to a variable named by
:func:`secret_env_name`, which :func:`export_secrets` sets while the run lasts.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Mapping


def secret_env_name(conn_id: str, key: str) -> str:
    """Name of the environment variable that carries one secret of one Airflow Connection.

    The readable part is the conn_id and key upper-cased with other characters as ``_``; the hash
    of the exact conn_id keeps ``shop-db`` and ``shop_db`` (or ``Shop``) from sharing a variable.

    >>> secret_env_name("shop-db", "password")
    'DPONE_AIRFLOW_SHOP_DB_4D02032C_PASSWORD'
    """
    readable = re.sub(r"[^A-Za-z0-9]", "_", conn_id).upper()
    digest = hashlib.sha256(conn_id.encode("utf-8")).hexdigest()[:8].upper()
    return f"DPONE_AIRFLOW_{readable}_{digest}_" + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


_ENV_LOCK = threading.Lock()
_ENV_USERS: dict[str, int] = {}
_ENV_BEFORE: dict[str, str | None] = {}


def export_secrets(secrets: Mapping[str, str]) -> None:
    """Put secrets into the environment for the runs that resolve ``${env:...}`` references.

    Counted per variable: runs overlapping in one process (sensors polling in the triggerer's
    threads, say) share a variable, and it leaves the environment only with its last user.
    """
    with _ENV_LOCK:
        for name, value in secrets.items():
            if name not in _ENV_USERS:
                _ENV_BEFORE[name] = os.environ.get(name)
            _ENV_USERS[name] = _ENV_USERS.get(name, 0) + 1
            os.environ[name] = value


def withdraw_secrets(secrets: Mapping[str, str]) -> None:
    """Undo :func:`export_secrets` for one user; the last one restores what was there before."""
    with _ENV_LOCK:
        for name in secrets:
            _ENV_USERS[name] -= 1
            if _ENV_USERS[name]:
                continue
            del _ENV_USERS[name]
            before = _ENV_BEFORE.pop(name)
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
