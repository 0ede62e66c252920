"""Strict pydantic base model: unknown keys are errors with a did-you-mean suggestion."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("a name cannot be empty or blank")
    if "\x00" in value:
        raise ValueError("a name cannot contain a NUL character")
    return value


Name = Annotated[str, AfterValidator(_name)]
"""A column, table or connection name: not blank, no NUL (any other character is quoted for you)."""


def suggest(word: str, choices: list[str]) -> str | None:
    """Return the closest known name to ``word`` or None.

    >>> suggest("optoins", ["options", "table"])
    'options'
    """
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


class StrictModel(BaseModel):
    """Base of every manifest model.

    Unknown keys raise ``unknown_key`` naming the key and the closest valid one, so
    ``processes[2].sink.optoins`` reads ``unknown key 'optoins'; did you mean 'options'?``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_enum_values=True)

    # Keys that may appear in YAML but are handled before validation (e.g. the union tag).
    _extra_allowed: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known: set[str] = set()
        for name, field in cls.model_fields.items():
            known.add(name)
            if field.alias:
                known.add(field.alias)
        known |= cls._extra_allowed
        unknown = [key for key in data if isinstance(key, str) and key not in known]
        if unknown:
            key = unknown[0]
            hint = suggest(key, sorted(known))
            message = f"unknown key '{key}'" + (f"; did you mean '{hint}'?" if hint else "")
            if not hint:
                message += f"; expected one of: {', '.join(sorted(known))}"
            raise PydanticCustomError("unknown_key", message)
        return data
