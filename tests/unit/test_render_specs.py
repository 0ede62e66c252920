"""Spec tests: strategy plans, types and DDL, rendered per dialect, must give exactly the SQL in specs/.

The expected statements are the SQL dpone runs against a target; a change to them is a change of
behaviour and shows up here as a diff to review, dialect by dialect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.specs.render_cases import CASES, RENDERERS
from tests.unit.specs.type_cases import DIALECTS, SCHEMA, TABLE, TYPES, WIDER

SPECS: dict[str, list[dict[str, Any]]] = yaml.safe_load((Path(__file__).parent / "specs" / "render.yaml").read_text())


def _rendered(dialect: str, case: str) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "sql": s.sql.replace("\x00p", "%p"),
            "params": [str(p) for p in s.params],
            "counts_as": s.counts_as,
            "counts": list(s.counts),
        }
        for s in RENDERERS[dialect].render(CASES[case])
    ]


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_a_plan_renders_exactly_the_expected_sql(spec: str) -> None:
    dialect, case = spec.split("/")
    assert _rendered(dialect, case) == SPECS[spec]


def test_every_case_and_dialect_has_a_spec() -> None:
    assert {f"{d}/{c}" for d in RENDERERS for c in CASES} == set(SPECS)


TYPE_SPECS: dict[str, dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "specs" / "types_and_ddl.yaml").read_text()
)


@pytest.mark.parametrize("spec", sorted(TYPE_SPECS["types"]))
def test_an_arrow_type_maps_to_the_expected_sql_type(spec: str) -> None:
    dialect, name = spec.split("/")
    expected = TYPE_SPECS["types"][spec]
    if expected.startswith("error: "):
        with pytest.raises(TypeError, match="no SQL type"):
            DIALECTS[dialect].type_sql(TYPES[name])
    else:
        assert DIALECTS[dialect].type_sql(TYPES[name]) == expected


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_ddl_of_a_create_and_an_evolution(dialect: str) -> None:
    d = DIALECTS[dialect]
    assert [d.create_table_sql(TABLE, SCHEMA)] == TYPE_SPECS["ddl"][f"{dialect}/create"]
    assert [d.create_table_sql(TABLE, SCHEMA, if_not_exists=True)] == TYPE_SPECS["ddl"][f"{dialect}/create_if_missing"]
    assert d.evolve_sql(TABLE, SCHEMA, WIDER) == TYPE_SPECS["ddl"][f"{dialect}/evolve"]
