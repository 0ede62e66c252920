"""The contract gate: convert declared types and check row rules on whole batches.

Rules are evaluated with ``pyarrow.compute`` into one boolean mask per rule; a row failing any
rule is rejected. In ``quarantine`` mode the rejected rows (with their original, unconverted
values) go to quarantine with the failing rules per row; in ``strict`` mode the first batch with a
violation stops the run before anything is committed. Uniqueness spans batches, so it is checked
on the staged rows by the sink (see ``Sink.staged_duplicates``) and reported under this gate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dpone_core.errors import ContractViolation, TypeCompatibilityError
from dpone_core.gates.types import NoConversion, cast_with_failures, contract_arrow_type
from dpone_core.manifest.contract import ColumnRule, SchemaContract

REASON_COLUMN = "__dpone_reason"


@dataclass
class BatchVerdict:
    """What the gate made of one batch."""

    valid: pa.RecordBatch
    rejected: pa.RecordBatch | None
    failures: Counter[str]
    valid_raw: pa.RecordBatch | None = None
    """The original (unconverted) values of the valid rows, for later gates' quarantine."""


@dataclass
class ContractGate:
    """Checks batches against a contract plus the implicit NOT NULL rules of keys and the target."""

    contract: SchemaContract
    not_null: frozenset[str] = frozenset()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    key: tuple[str, ...] = ()
    """The primary key when the strategy identifies rows by it: its NULLs fail even under ``off``."""
    totals: Counter[str] = field(default_factory=Counter)
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def enforcement(self) -> str:
        """strict | quarantine | off."""
        return self.contract.enforcement

    @property
    def checks_rules(self) -> bool:
        """False when enforcement is off (types are still converted)."""
        return self.contract.enforcement != "off"

    def text_columns(self) -> frozenset[str]:
        """Columns a CSV source should hand over as text so conversion failures are per row."""
        return frozenset(name for name, rule in self.contract.columns.items() if rule.type is not None)

    def rule_ids(self) -> list[str]:
        """Every rule this gate checks, as ``column.rule`` ids (used for Dagster checks and evidence)."""
        ids: list[str] = []
        for name, rule in self.contract.columns.items():
            ids.extend(f"{name}.{r}" for r in _rules_of(rule))
        ids.extend(f"{name}.not_null" for name in sorted(self.not_null) if f"{name}.not_null" not in ids)
        ids.extend(f"{'+'.join(key)}.unique" for key in self.unique_keys)
        return list(dict.fromkeys(ids))

    def missing_columns(self, schema: pa.Schema) -> list[str]:
        """Contract columns the source does not provide."""
        return [name for name in self.contract.columns if name not in schema.names]

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """Schema of valid batches given the source schema (declared columns take their contract type)."""
        fields = []
        for f in schema:
            rule = self.contract.columns.get(f.name)
            target = contract_arrow_type(rule) if rule else None
            fields.append(pa.field(f.name, target or f.type, True))
        return pa.schema(fields)

    def check(self, batch: pa.RecordBatch) -> BatchVerdict:
        """Convert and check one batch; strict violations raise :class:`ContractViolation`."""
        masks: dict[str, np.ndarray] = {}
        columns: list[pa.Array] = []
        for name in batch.schema.names:
            raw = batch.column(name)
            rule = self.contract.columns.get(name)
            target = contract_arrow_type(rule) if rule else None
            value = raw
            if target is not None:
                try:
                    value, failed = cast_with_failures(raw, target)
                except NoConversion as exc:
                    raise TypeCompatibilityError(
                        f"column {name}: {exc}", step="contract", fix=f"change schema_contract.columns.{name}.type"
                    ) from None
                if failed.any():
                    masks[f"{name}.type"] = failed
                    self.descriptions.setdefault(f"{name}.type", f"value is not a valid {rule.type}")  # type: ignore[union-attr]
            if self.checks_rules:
                self._row_rules(name, raw, value, rule, masks)
            elif name in self.key and raw.null_count:
                # A row without its key cannot be matched (merge would insert it again every run).
                masks[f"{name}.not_null"] = np.asarray(pc.is_null(raw).to_numpy(zero_copy_only=False), dtype=bool)
                self.descriptions.setdefault(f"{name}.not_null", "value is required (null found)")
            columns.append(value)
        typed = pa.RecordBatch.from_arrays(columns, schema=self.output_schema(batch.schema))
        if not masks:
            return BatchVerdict(typed, None, Counter(), batch)
        counts = Counter({rule_id: int(mask.sum()) for rule_id, mask in masks.items()})
        if not self.checks_rules:
            keyless = [rule_id for rule_id in counts if rule_id.endswith(".not_null")]
            if keyless:
                self.totals.update({rule_id: counts[rule_id] for rule_id in keyless})
                raise ContractViolation(
                    f"{counts[keyless[0]]} rows have no value in key column {keyless[0].split('.')[0]} "
                    f"({keyless[0]}); a key must identify every row, even with enforcement: off",
                    step="contract",
                    fix="fill or filter the key in the source (a query source can), or choose a strategy without a key",
                )
            first = next(iter(counts))
            raise TypeCompatibilityError(
                f"{counts[first]} rows cannot be converted ({first}: {self.descriptions.get(first, '')})",
                step="contract",
                fix="fix the source values or set schema_contract.enforcement: quarantine",
            )
        self.totals.update(counts)
        bad = np.logical_or.reduce(list(masks.values()))
        if self.enforcement == "strict":
            raise ContractViolation(
                self.violation_message(counts, batch, masks),
                step="contract",
                fix="correct the source rows, or set schema_contract.enforcement: quarantine",
            )
        keep = pa.array(~bad)
        rejected = batch.filter(pa.array(bad))
        reasons = self._reasons({k: m[bad] for k, m in masks.items()}, rejected.num_rows)
        rejected = rejected.append_column(REASON_COLUMN, reasons)
        return BatchVerdict(typed.filter(keep), rejected, counts, batch.filter(keep))

    def violation_message(self, counts: Counter[str], batch: pa.RecordBatch, masks: dict[str, np.ndarray]) -> str:
        """One line: how many rows broke which rule, with the first offending value."""
        total = int(np.logical_or.reduce(list(masks.values())).sum())
        parts = ", ".join(f"{rule} x{n}" for rule, n in counts.most_common())
        rule, mask = next(iter(masks.items()))
        column = rule.split(".")[0]
        first = int(np.argmax(mask))
        sample = sample_value(batch.column(column), first) if column in batch.schema.names else None
        return (
            f"{total} rows break the data contract ({parts}); first: {rule} "
            f"({self.descriptions.get(rule, '')}) on value {sample!r}"
        )

    def _reasons(self, masks: dict[str, np.ndarray], rows: int) -> pa.Array:
        parts = []
        for rule_id, mask in masks.items():
            text = f"{rule_id}: {self.descriptions.get(rule_id, rule_id)}"
            parts.append(pc.if_else(pa.array(mask), pa.scalar(text), pa.nulls(rows, pa.string())))
        if len(parts) == 1:
            return parts[0]
        return pc.binary_join_element_wise(*parts, "; ", null_handling="skip")

    def _row_rules(
        self,
        name: str,
        raw: pa.Array,
        value: pa.Array,
        rule: ColumnRule | None,
        masks: dict[str, np.ndarray],
    ) -> None:
        def add(rule_id: str, failed: pa.Array, description: str) -> None:
            mask = np.asarray(pc.fill_null(failed, False).to_numpy(zero_copy_only=False), dtype=bool)
            if mask.any():
                masks[rule_id] = mask | masks.get(rule_id, np.zeros(len(mask), dtype=bool))
            self.descriptions.setdefault(rule_id, description)

        present = pc.is_valid(value)
        if (rule is not None and not rule.nullable) or name in self.not_null:
            add(f"{name}.not_null", pc.is_null(raw), "value is required (null found)")
        if rule is None:
            return
        if rule.min is not None:
            bound = _scalar_like(rule.min, value.type)
            add(
                f"{name}.min",
                pc.and_(present, pc.invert(pc.fill_null(pc.greater_equal(value, bound), False))),
                f"must be >= {rule.min}",
            )
        if rule.max is not None:
            bound = _scalar_like(rule.max, value.type)
            add(
                f"{name}.max",
                pc.and_(present, pc.invert(pc.fill_null(pc.less_equal(value, bound), False))),
                f"must be <= {rule.max}",
            )
        if rule.allowed is not None:
            allowed = typed_values(rule.allowed, value.type)
            add(
                f"{name}.allowed",
                pc.and_(present, pc.invert(pc.is_in(value, value_set=allowed))),
                "must be one of " + ", ".join(str(v) for v in rule.allowed),
            )
        if rule.regex is not None or rule.max_length is not None:
            text = value if pa.types.is_string(value.type) else pc.cast(value, pa.string())
            if rule.regex is not None:
                add(
                    f"{name}.regex",
                    pc.and_(present, pc.invert(pc.match_substring_regex(text, rule.regex))),
                    f"must match /{rule.regex}/",
                )
            if rule.max_length is not None:
                add(
                    f"{name}.max_length",
                    pc.greater(pc.utf8_length(text), rule.max_length),
                    f"must be at most {rule.max_length} characters",
                )


def _rules_of(rule: ColumnRule) -> list[str]:
    names = []
    if rule.type is not None:
        names.append("type")
    if not rule.nullable:
        names.append("not_null")
    for attr in ("min", "max", "allowed", "regex", "max_length"):
        if getattr(rule, attr) is not None:
            names.append(attr)
    if rule.unique:
        names.append("unique")
    return names


def typed_values(values: Sequence[object], arrow_type: pa.DataType) -> pa.Array:
    """Manifest values (bounds, allowed lists) converted to a column's Arrow type; invalid ones fail."""
    converted, failed = cast_with_failures(pa.array(values), arrow_type)
    if failed.any():
        bad = [v for v, f in zip(values, failed, strict=True) if f]
        raise TypeCompatibilityError(f"contract bound(s) {bad} are not valid {arrow_type}", step="contract")
    return converted


def _scalar_like(value: object, arrow_type: pa.DataType) -> pa.Scalar:
    return typed_values([value], arrow_type)[0]


def sample_value(column: pa.Array, index: int) -> object:
    """The value at ``index`` as an error message shows it.

    A nanosecond timestamp becomes its ISO text: a ``datetime`` cannot hold nanoseconds, and pyarrow
    turns one into a Python value only through pandas, which may be absent (or kept out, see
    :mod:`dpone_core.cli.arrow`); the text is the same either way.
    """
    if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
        return pc.cast(column.slice(index, 1), pa.string())[0].as_py()
    return column[index].as_py()
