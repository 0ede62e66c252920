"""Tables as every layer names them: a (schema, name) pair and what a catalog says about its columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class TableRef:
    """A (schema, name) pair; rendering and quoting belong to the dialect."""

    schema: str | None
    name: str

    def display(self) -> str:
        """Unquoted dotted form for messages."""
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class TargetColumn:
    """One column of an existing or planned target table."""

    name: str
    type: pa.DataType
    nullable: bool = True
    native_type: str | None = field(default=None, compare=False)
    """The database's own type, rendered by its catalog, when ``type`` only stands in for it (an enum
    or inet column described as text): values are cast to it explicitly. None when ``type`` is faithful."""


@dataclass(frozen=True)
class TargetSchema:
    """What the sink's catalog says about the target table."""

    columns: tuple[TargetColumn, ...]
    primary_key: tuple[str, ...] = ()

    def column(self, name: str) -> TargetColumn | None:
        """Return the column called ``name`` or None."""
        return next((c for c in self.columns if c.name == name), None)

    def arrow_schema(self) -> pa.Schema:
        """The table as an Arrow schema (nullability kept)."""
        import pyarrow as pa  # only when asked: the model is imported by paths that never touch Arrow

        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.columns])
