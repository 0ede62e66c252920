#!/usr/bin/env python3
"""Generate docs/manifest.md from the pydantic models that validate manifests.

Every key, type, default and constraint comes from the models themselves; the prose (intro, the
meaning of keys whose model has no description, and the cross-key rules enforced by validators)
lives in scripts/manifest_reference_text.py. tests/unit/test_docs_current.py fails when the committed file differs
from this script's output, so the reference cannot drift from the code.

    python scripts/gen_manifest_reference.py          # rewrite docs/manifest.md
    python scripts/gen_manifest_reference.py --check  # exit 1 if docs/manifest.md is stale
"""

from __future__ import annotations

import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "manifest.md"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dpone_core.connections.profile import ConnectionProfile  # noqa: E402
from dpone_core.connections.registry import BUILT_IN, connector  # noqa: E402
from dpone_core.manifest import models  # noqa: E402
from scripts.manifest_reference_text import EXAMPLE, INTRO, MEANING, RULES, SECTIONS  # noqa: E402


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _model_sections() -> list[tuple[type[BaseModel], str, str]]:
    """SECTIONS plus any model reachable from the root that SECTIONS does not name."""
    known = {model for model, _, _ in SECTIONS}
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(models.Manifest)
    visit(models.Registry)
    # The profile base stands for the connectors' profiles, which SECTIONS lists one by one.
    extra = [(m, m.__name__, m.__name__.lower()) for m in found if m not in known and m is not ConnectionProfile]
    return SECTIONS + extra


def _anchor_of(model: type[BaseModel]) -> str | None:
    return next((anchor for m, _, anchor in _model_sections() if m is model), None)


def type_text(annotation: Any) -> str:
    """A YAML-minded name for a field's type, linking nested models to their section."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        base, *meta = args
        if any(isinstance(m, BeforeValidator) for m in meta):
            return "connection profile (by `type`)"
        if base is str and any(getattr(m, "pattern", None) for m in meta):
            return "`${env:...}` / `${file:...}` reference"
        return type_text(base)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is dict:
        return f"map of name → {type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        anchor = _anchor_of(annotation)
        return f"[mapping](#{anchor})" if anchor else "mapping"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return {"": '""', '"': "'\"'"}.get(value, value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict | BaseModel):
        return "{}"
    return str(value)


def default_text(info: FieldInfo) -> str:
    """The default as a user would write it in YAML, or *required*."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "*required*"
    else:
        value = info.default
    return f"`{_yaml_value(value)}`"


def constraint_text(info: FieldInfo) -> str:
    """Numeric bounds and lengths declared on the field."""
    parts = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            parts.append(f">= {meta.ge}")
        elif isinstance(meta, annotated_types.Le):
            parts.append(f"<= {meta.le}")
        elif isinstance(meta, annotated_types.Gt):
            parts.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Lt):
            parts.append(f"< {meta.lt}")
        elif isinstance(meta, annotated_types.MinLen):
            parts.append(f"at least {meta.min_length} {'item' if meta.min_length == 1 else 'items'}")
        elif isinstance(meta, annotated_types.MaxLen):
            parts.append(f"at most {meta.max_length}")
    if parts == ["at least 1 item", "at most 1"]:
        return "exactly one character"
    return ", ".join(parts)


def meaning_text(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """Model description, hand-written meaning, constraints and the secret marker, in that order."""
    parts = [p for p in (info.description, MEANING.get(f"{model.__name__}.{name}")) if p]
    bounds = constraint_text(info)
    if bounds:
        parts.append(f"Allowed: {bounds}.")
    if issubclass(model, ConnectionProfile) and name in model.secret_fields():
        parts.append("**Secret**: must be a reference.")
    return _escape(" ".join(parts))


def section(model: type[BaseModel], heading: str, anchor: str) -> str:
    """One model as a heading, its docstring, a key table and its cross-key rules."""
    doc = (model.__doc__ or "").strip().splitlines()[0].replace("``", "`") if model.__doc__ else ""
    lines = [f'<a id="{anchor}"></a>', "", f"### {heading}", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        lines.append(
            f"| `{key}` | {type_text(info.annotation)} | {default_text(info)} | {meaning_text(model, name, info)} |"
        )
    rules = RULES.get(model)
    if rules:
        lines += ["", "Rules:", ""] + [f"* {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def _check_example() -> None:
    """The example in the intro must validate against the current models."""
    from dpone_core.manifest.loader import load_manifest

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "example.yaml"
        path.write_text(EXAMPLE, encoding="utf-8")
        load_manifest(path)


def render() -> str:
    """The full text of docs/manifest.md."""
    _check_example()
    specs = {name: connector(name) for name in BUILT_IN}  # dpone's own; an installed plugin documents itself
    table = "".join(
        f"| `{kind}` | {'yes' if spec.capabilities.source else 'no'} | {'yes' if spec.capabilities.sink else 'no'} |\n"
        for kind, spec in specs.items()
    )
    secrets = ", ".join(f"`{name}`" for name in sorted({n for s in specs.values() for n in s.profile.secret_fields()}))
    head = [
        "<!-- Generated by scripts/gen_manifest_reference.py from the pydantic models; do not edit by hand. -->",
        "",
        "# Manifest reference",
        "",
        INTRO.replace("@EXAMPLE@", EXAMPLE).replace("@CONNECTORS@", table).replace("@SECRETS@", secrets),
        "## Keys",
        "",
        "Every mapping below rejects keys it does not list. *required* keys have no default.",
        "",
        "",
    ]
    body = [section(model, heading, anchor) for model, heading, anchor in _model_sections()]
    return "\n".join(head) + "\n".join(body)


def main(argv: list[str]) -> int:
    """Write docs/manifest.md, or with ``--check`` report whether it is current."""
    from scripts.generated_doc import write_or_check

    return write_or_check(OUTPUT, render(), argv, REPO, "gen_manifest_reference.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
