"""References resolve late and their values never reach a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpone_core.connections.references import UnresolvedReference, resolve_references
from dpone_core.errors import DponeConnectionError
from dpone_core.redaction import redact


def test_env_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPONE_T_USER", "alice")
    (tmp_path / "pw").write_text("s3cret-value\n")
    value = resolve_references("${env:DPONE_T_USER}:${file:pw}", base_dir=tmp_path)
    assert value == "alice:s3cret-value"
    assert redact("login alice:s3cret-value failed") == "login ***:*** failed"


def test_missing_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DPONE_T_ABSENT", raising=False)
    with pytest.raises(UnresolvedReference, match="DPONE_T_ABSENT is not set"):
        resolve_references("${env:DPONE_T_ABSENT}")


def test_errors_redact_resolved_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPONE_T_PW", "topsecret99")
    resolve_references("${env:DPONE_T_PW}")
    error = DponeConnectionError("password topsecret99 rejected", process="p", step="connect")
    assert "topsecret99" not in str(error)
    assert "***" in error.info().message


def test_url_passwords_are_masked() -> None:
    assert redact("postgresql://bob:pw123@db:5432/x") == "postgresql://bob:***@db:5432/x"
