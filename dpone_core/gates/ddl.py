"""The physical DDL gate: the sink's DDL for an evolution plan, or a refusal when the design forbids it.

DDL only ever adds (rendered by the dialect, ``SqlDialect.evolve_sql``): a new table is created
with its primary key and NOT NULL columns, an existing one gains columns or wider types. Nothing
drops a column, a key or a NOT NULL.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from dpone_core.errors import SchemaEvolutionBlocked
from dpone_core.gates.evolution import EvolutionPlan
from dpone_core.manifest.process import PhysicalDesign


def physical_ddl(
    plan: EvolutionPlan,
    statements: list[str],
    design: PhysicalDesign,
    blocks_writers: Callable[[pa.DataType, pa.DataType], bool],
) -> list[str]:
    """Return the sink's DDL for ``plan`` if the physical design allows it, else raise.

    ``blocks_writers(current, incoming)`` is the sink's answer to whether widening a column from
    one type to the other rewrites the table (refused in ``online`` mode) or only its catalog.
    """
    if not statements:
        return []
    if not design.apply_runtime:
        raise SchemaEvolutionBlocked(
            f"the target needs DDL ({statements[0]}) but physical_design.apply_runtime is false",
            step="ddl",
            fix="apply the DDL yourself, or set sink.options.physical_design.apply_runtime: true",
        )
    rewrites = [name for name, current, incoming in plan.widened if blocks_writers(current, incoming)]
    if rewrites and design.apply == "online":
        name = rewrites[0]
        raise SchemaEvolutionBlocked(
            f"widening column {name} rewrites the table and blocks writers, refused in online mode",
            step="ddl",
            fix="set sink.options.physical_design.apply: offline for this run",
        )
    return statements
