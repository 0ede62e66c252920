"""Read-only questions orchestrators ask about a process before or after a run.

Which contract rules a process checks (so Dagster can declare one asset check per rule before
anything runs), how many rows its target holds now, and which error codes are worth a retry.
Nothing here reads or writes rows of a load; nothing here imports an orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpone_core.manifest.contract import ColumnRule, SchemaContract
from dpone_core.manifest.process import STRATEGIES_NEEDING_KEY, Process


@dataclass(frozen=True)
class ContractRule:
    """One rule of a process's contract: its id as it appears in gate verdicts, and what it demands."""

    rule_id: str
    column: str
    kind: str
    description: str


def identifying_key(process: Process) -> tuple[str, ...]:
    """The primary key when the strategy finds rows by it (the merge-like ones and incremental), else ()."""
    key = tuple(process.sink.primary_key)
    if key and (process.sink.strategy in STRATEGIES_NEEDING_KEY or process.sink.strategy == "incremental"):
        return key
    return ()


def unique_keys(process: Process) -> tuple[tuple[str, ...], ...]:
    """Column sets that must be unique within one load: ``unique`` rules and the key of key strategies."""
    contract = process.schema_contract or SchemaContract()
    keys: list[tuple[str, ...]] = [(name,) for name, rule in contract.columns.items() if rule.unique]
    key = identifying_key(process)
    if key:
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def _describe(kind: str, rule: ColumnRule | None) -> str:
    if rule is None:
        return {"not_null": "value is required", "unique": "no two rows of one load share the key"}.get(kind, kind)
    texts = {
        "type": f"value converts to {rule.type}",
        "not_null": "value is required (no nulls)",
        "min": f"value >= {rule.min}",
        "max": f"value <= {rule.max}",
        "allowed": "value is one of " + ", ".join(str(v) for v in rule.allowed or []),
        "regex": f"value matches /{rule.regex}/",
        "max_length": f"at most {rule.max_length} characters",
        "unique": "no two rows of one load share the value",
    }
    return texts.get(kind, kind)


def contract_rules(process: Process) -> list[ContractRule]:
    """The contract rules a run of ``process`` reports verdicts for, known from the manifest alone.

    With ``enforcement: off`` only the rules the runtime still enforces are listed (type conversion
    and the uniqueness of the primary key). Not-null rules that come from an existing target's
    NOT NULL columns are decided at run time and are not listed here.

    >>> [r.rule_id for r in contract_rules(process)]  # doctest: +SKIP
    ['id.type', 'id.not_null', 'id.unique', 'amount.min']
    """
    from dpone_core.gates.contract import ContractGate  # pyarrow.compute: only for callers that ask

    contract = process.schema_contract or SchemaContract()
    gate = ContractGate(contract, not_null=frozenset(process.sink.primary_key), unique_keys=unique_keys(process))
    primary_key_rule = f"{'+'.join(process.sink.primary_key)}.unique" if process.sink.primary_key else None
    rules = []
    for rule_id in gate.rule_ids():
        column, _, kind = rule_id.rpartition(".")
        if not gate.checks_rules and kind != "type" and rule_id != primary_key_rule:
            continue
        rule = contract.columns.get(column)
        rules.append(ContractRule(rule_id, column, kind, _describe(kind, rule)))
    return rules
