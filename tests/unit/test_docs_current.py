"""The generated references in docs/ must match the code they are generated from.

docs/manifest.md comes from the pydantic manifest models and docs/cli.md from ``dpone <cmd> --help``.
When a model field or a CLI option changes, regenerate:

    python scripts/gen_manifest_reference.py && python scripts/gen_cli_reference.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("script", "document"),
    [("gen_manifest_reference", "docs/manifest.md"), ("gen_cli_reference", "docs/cli.md")],
)
def test_generated_reference_is_current(script: str, document: str) -> None:
    committed = (REPO / document).read_text(encoding="utf-8")
    generated = _script(script).render()
    assert committed == generated, f"{document} is stale: run python scripts/{script}.py and commit the result"


def test_manifest_reference_lists_every_key() -> None:
    from dpone_core.manifest.models import Manifest

    text = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    module = _script("gen_manifest_reference")
    for model, _, _ in module._model_sections():
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text, f"{model.__name__}.{name} missing from docs/manifest.md"
    assert Manifest in {m for m, _, _ in module._model_sections()}


def test_cli_reference_lists_every_command() -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    module = _script("gen_cli_reference")
    for path in module._commands(module.cli):
        assert f"### dpone {' '.join(path)}\n" in text
