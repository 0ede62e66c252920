"""Manifest models for data contracts and schema evolution policies."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dpone_core.model.strict import Name, StrictModel

ContractType = Literal[
    "string",
    "int8",
    "int16",
    "int32",
    "int64",
    "integer",
    "float32",
    "float64",
    "float",
    "double",
    "decimal",
    "boolean",
    "date",
    "timestamp",
    "time",
    "binary",
    "json",
]
Enforcement = Literal["strict", "quarantine", "off"]
Scalar = bool | int | float | str


class ColumnRule(StrictModel):
    """Rules for one column. Every rule set here is checked on every row of every load."""

    description: str | None = Field(None, description="What the column holds; published to catalogs (dbt, DataHub).")
    type: ContractType | None = Field(None, description="Logical type the values must convert to.")
    precision: int | None = Field(None, ge=1, le=38, description="Decimal precision (type: decimal).")
    scale: int | None = Field(None, ge=0, le=38, description="Decimal scale (type: decimal).")
    tz: str | None = Field(None, description="Time zone of a timestamp; naive values are read in it.")
    nullable: bool = True
    unique: bool = Field(False, description="No two rows of one load share a value.")
    min: Scalar | None = Field(None, description="Inclusive lower bound (numbers, dates, timestamps).")
    max: Scalar | None = Field(None, description="Inclusive upper bound.")
    allowed: list[Scalar] | None = Field(None, min_length=1, description="Closed list of permitted values.")
    regex: str | None = Field(None, description="Values (as text) must match this regular expression.")
    max_length: int | None = Field(None, ge=1, description="Longest permitted string, in characters.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnRule:
        if (self.precision is not None or self.scale is not None) and self.type != "decimal":
            raise ValueError("precision/scale apply only to type: decimal")
        if self.type == "decimal" and self.precision is None:
            raise ValueError("type: decimal needs precision (and usually scale)")
        if self.precision is not None and self.scale is not None and self.scale > self.precision:
            raise ValueError("scale cannot exceed precision")
        if self.tz is not None and self.type != "timestamp":
            raise ValueError("tz applies only to type: timestamp")
        return self


class SchemaContract(StrictModel):
    """A data contract: what every loaded row must satisfy, and what happens when one does not."""

    enforcement: Enforcement = Field(
        "strict",
        description="strict: any violation fails the run; quarantine: bad rows go to quarantine files; "
        "off: rules are not checked (types are still converted, and a key strategy's key must still be "
        "unique and not null).",
    )
    columns: dict[Name, ColumnRule] = Field(default_factory=dict)


class SchemaEvolution(StrictModel):
    """What to do when the source schema differs from the existing target table."""

    new_columns: Literal["add", "ignore", "fail"] = "add"
    removed_columns: Literal["keep", "fail"] = "keep"
    type_changes: Literal["widen_only", "fail", "quarantine"] = "widen_only"
