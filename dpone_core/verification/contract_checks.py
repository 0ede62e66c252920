"""Contract rules evaluated over what a target table holds now (not over a load's incoming rows).

The same :class:`~dpone_core.gates.contract.ContractGate` a load uses checks the rows, so a rule
means the same thing in both places; it runs in quarantine mode here only to count every
failure instead of stopping at the first. Uniqueness is counted over the whole table (or the
checked slice), except where the strategy does not promise it: ``append`` keeps unique rules per
load, and ``scd2`` keeps history, so its key is unique among the current rows only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.gates.contract import ContractGate
from dpone_core.introspection import contract_rules, identifying_key
from dpone_core.manifest.process import Process, Scd2Columns
from dpone_core.runtime.context import effective_contract
from dpone_core.runtime.report import GateVerdict

_BATCH_ROWS = 65_536


def columns_to_read(process: Process) -> list[str]:
    """Target columns the contract checks need: ruled columns, keys, the partition column, scd2's flag."""
    contract = effective_contract(process)
    names = [*contract.columns, *process.sink.primary_key]
    if process.partitions is not None:
        names.append(process.partitions.column)
    if process.sink.strategy == "scd2":
        names.append((process.sink.scd2 or Scd2Columns()).is_current)
    return list(dict.fromkeys(names))


def contract_verdicts(process: Process, table: pa.Table) -> list[GateVerdict]:
    """One verdict per contract rule of ``process`` (the ids ``contract_rules`` lists) over ``table``."""
    rules = contract_rules(process)
    missing = {r.column for r in rules if r.kind != "unique" and r.column not in table.column_names}
    contract = effective_contract(process)
    present = {name: rule for name, rule in contract.columns.items() if name in table.column_names}
    gate = ContractGate(
        contract.model_copy(update={"enforcement": "quarantine", "columns": present}),
        not_null=frozenset(c for c in process.sink.primary_key if c in table.column_names),
    )
    checked = table.select([c for c in table.column_names if c in present or c in gate.not_null])
    for batch in checked.to_batches(max_chunksize=_BATCH_ROWS):
        gate.check(batch)
    failures: Counter[str] = gate.totals
    verdicts = []
    for rule in rules:
        if rule.column in missing:
            verdicts.append(_failed(rule.rule_id, 0, f"column {rule.column} is not in the target"))
        elif rule.kind == "unique":
            verdicts.append(_unique_verdict(process, table, rule.rule_id, tuple(rule.column.split("+"))))
        elif failures[rule.rule_id]:
            verdicts.append(_failed(rule.rule_id, failures[rule.rule_id], gate.descriptions.get(rule.rule_id, "")))
        else:
            verdicts.append(GateVerdict(gate="contract", rule=rule.rule_id, verdict="passed"))
    return verdicts


def duplicate_rows(table: pa.Table, key: Sequence[str]) -> int:
    """Rows of ``table`` whose ``key`` another row shares (every copy counts)."""
    if table.num_rows == 0:
        return 0
    counts = table.select(list(key)).group_by(list(key)).aggregate([([], "count_all")])
    repeated = pc.filter(counts["count_all"], pc.greater(counts["count_all"], 1))
    return int(pc.sum(repeated).as_py() or 0)


def _unique_verdict(process: Process, table: pa.Table, rule_id: str, key: tuple[str, ...]) -> GateVerdict:
    absent = [c for c in key if c not in table.column_names]
    if absent:
        return _failed(rule_id, 0, f"column {absent[0]} is not in the target")
    strategy = process.sink.strategy
    if strategy == "append" or (strategy == "incremental" and not identifying_key(process)):
        return GateVerdict(
            gate="contract", rule=rule_id, verdict="skipped", detail=f"{strategy} keeps unique rules per load only"
        )
    scope = table
    if strategy == "scd2":
        flag = (process.sink.scd2 or Scd2Columns()).is_current
        if flag in table.column_names:
            scope = table.filter(pc.fill_null(table[flag], False))
    duplicates = duplicate_rows(scope, key)
    if duplicates:
        where = " among current rows" if strategy == "scd2" else ""
        return _failed(rule_id, duplicates, f"{duplicates} rows share a {'+'.join(key)} value{where}")
    return GateVerdict(gate="contract", rule=rule_id, verdict="passed")


def _failed(rule_id: str, rows: int, detail: str) -> GateVerdict:
    return GateVerdict(gate="contract", rule=rule_id, verdict="failed", failed_rows=rows, detail=detail)
