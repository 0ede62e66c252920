"""Per-load uniqueness (checked on staged rows) and the contract verdicts a report carries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pyarrow as pa

from dpone_core.errors import ContractViolation
from dpone_core.gates.contract import REASON_COLUMN, ContractGate
from dpone_core.gates.quarantine import QuarantineWriter
from dpone_core.model import SEQ_COLUMN, StagedLoad
from dpone_core.runtime.pipeline import StreamStats
from dpone_core.runtime.report import GateVerdict
from dpone_core.spi.ports import Sink


def resolve_duplicates(
    sink: Sink,
    staged: StagedLoad,
    contract: ContractGate,
    quarantine: QuarantineWriter,
    stats: StreamStats,
    primary_key: Sequence[str],
    *,
    skip: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
) -> StagedLoad:
    """Find rows repeating a unique key of an earlier row of the load; quarantine them or fail.

    ``skip`` leaves one key to the target's own constraint; ``only`` checks just that key. Under
    ``enforcement: off`` the primary key is still enforced (a merge cannot take two rows per key).
    """
    key = tuple(primary_key)
    for unique in contract.unique_keys:
        if unique == skip or (only and unique != only):
            continue
        duplicates = sink.staged_duplicates(staged, unique)
        if duplicates.num_rows == 0:
            continue
        rule = f"{'+'.join(unique)}.unique"
        mode = "strict" if contract.enforcement == "off" and unique == key else contract.enforcement
        if mode == "off":
            continue
        contract.totals[rule] += duplicates.num_rows
        stats.failures[rule] += duplicates.num_rows
        if mode == "strict":
            sample = {c: duplicates.column(c)[0].as_py() for c in unique}
            raise ContractViolation(
                f"{duplicates.num_rows} rows repeat the key ({', '.join(unique)}) of an earlier row; first: {sample}",
                step="contract",
                fix="deduplicate the source, or set schema_contract.enforcement: quarantine",
            )
        reason = pa.array([f"{rule}: repeats the key of an earlier row of this load"] * duplicates.num_rows)
        for batch in duplicates.append_column(REASON_COLUMN, reason).to_batches():
            quarantine.write(batch)
        stats.quarantined += duplicates.num_rows
        staged = sink.discard_staged(staged, duplicates.column(SEQ_COLUMN))
    return staged


def contract_verdicts(
    contract: ContractGate, stats: StreamStats, primary_key: Sequence[str], *, failed: bool = False
) -> list[GateVerdict]:
    """One verdict per contract rule, plus one per type-compatibility rule that rejected rows."""
    failures = Counter(contract.totals)
    failures.update({k: v for k, v in stats.failures.items() if k.endswith(".target_type")})
    verdict = "failed" if failed or contract.enforcement != "quarantine" else "quarantined"
    key_rule = f"{'+'.join(primary_key)}.unique"
    verdicts = []
    for rule_id in contract.rule_ids():
        count = failures.get(rule_id, 0)
        keyed = rule_id == key_rule or rule_id in {f"{column}.not_null" for column in contract.key}
        enforced = contract.checks_rules or rule_id.endswith(".type") or keyed
        verdicts.append(
            GateVerdict(
                gate="contract",
                rule=rule_id,
                verdict=verdict if count else ("passed" if enforced else "skipped"),
                failed_rows=count,
                detail=contract.descriptions.get(rule_id, ""),
            )
        )
    verdicts += [
        GateVerdict(
            gate="type_compatibility",
            rule=rule_id,
            verdict="quarantined",
            failed_rows=count,
            detail="value does not fit the target type",
        )
        for rule_id, count in failures.items()
        if rule_id.endswith(".target_type")
    ]
    return verdicts
