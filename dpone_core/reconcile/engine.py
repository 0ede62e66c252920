"""The comparison: key-range segments hashed on both sides, descending only into those that differ.

With an integer first key column (``mode="segments"``, the default when it is one), the key range
``[min, max]`` of both sides is cut into ``segments`` equal segments; each side returns every
segment's row count and checksum in one grouped query. Equal segments are done. A differing
segment with at most ``bisection_threshold`` rows is fetched from both sides (key order, as
normalised text) and merged row by row; a larger one is cut into ``segments`` again. Memory is
one level's segment stats plus one fetched segment; the time is one scan per side plus a
key-range scan per differing segment and level. Any other key (``mode="full"``) streams both
sides in key order and merges them (a full fetch, still one row at a time on SQL sides).

A source row marked deleted (``delete_column``) is not hashed; it yields a delete action only
when the target still has its key. A target row whose key the source lacks is extra; it yields a
delete action only with ``delete_extra`` (the source may read a window, not the whole table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

from dpone_core.errors import ConfigurationError
from dpone_core.reconcile.normalize import MASK, checksum_text, row_hash
from dpone_core.reconcile.result import DELETE, INSERT, UPDATE, ReconcileResult, RepairAction, shown
from dpone_core.reconcile.sides import Compared, FetchedRow, ReconcileSide, SegmentStat, SqlSide
from dpone_core.reconcile.streamed import order_key
from dpone_core.reconcile.types import merge_types

_NONE = SegmentStat(0, 0, 0)
_T = TypeVar("_T")


@dataclass(frozen=True)
class ReconcileOptions:
    """How far to descend and how much to keep."""

    segments: int = 64
    """Segments per level (each level is one grouped query per side)."""
    bisection_threshold: int = 10_000
    """A differing segment with at most this many rows is fetched instead of cut again."""
    max_actions: int = 100_000
    """Repair actions kept (counts are always exact); past it ``actions_complete`` is False."""
    delete_extra: bool = False
    """Target rows the source lacks get a delete action (without it they are reported only)."""
    mode: str = "auto"
    """``auto`` (segments for an integer first key, else full), ``segments`` or ``full``."""
    parallel_sides: bool = False
    """Run each level's two segment queries at once (only when the sides use separate connections)."""
    native_hash: bool = True
    """Two sides of one SQL engine hash segments with its own fast hash (checksums then are that
    engine's, not the portable MD5 form)."""

    def __post_init__(self) -> None:
        if self.segments < 2 or self.bisection_threshold < 1 or self.max_actions < 0:
            raise ConfigurationError(
                "reconcile needs segments >= 2, bisection_threshold >= 1 and max_actions >= 0",
                step="reconcile",
                fix="e.g. --segments 64 --bisection-threshold 10000",
            )
        if self.mode not in ("auto", "segments", "full"):
            raise ConfigurationError(f"unknown mode {self.mode!r}", step="reconcile", fix="use auto, segments or full")


def compared(
    source: ReconcileSide,
    target: ReconcileSide,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    delete_column: str | None = None,
) -> Compared:
    """The key, the compared columns (default: every column both sides have) and their merged types."""
    s_types, t_types = source.column_types(), target.column_types()
    if not key:
        raise ConfigurationError("reconcile needs a key", step="reconcile", fix="give --key id (or sink.primary_key)")
    if delete_column is not None and delete_column not in s_types:
        raise ConfigurationError(
            f"delete column {delete_column} is not a column of {source.name}",
            step="reconcile",
            fix="fix --delete-column",
        )
    chosen = list(columns) if columns is not None else [c for c in s_types if c in t_types]
    chosen = [c for c in chosen if c not in key and c != delete_column]
    for side, types in ((source, s_types), (target, t_types)):
        absent = [c for c in [*key, *chosen] if c not in types]
        if absent:
            raise ConfigurationError(
                f"{side.name} has no column {', '.join(absent)}",
                step="reconcile",
                fix="fix --key / --compare-columns (names are case-sensitive)",
            )
    types = {c: merge_types(s_types[c], t_types[c]) for c in [*key, *chosen]}
    return Compared(tuple(key), tuple(chosen), types, delete_column)


@dataclass
class _Tally:
    """Counts, actions and (in full mode) checksums, as rows are merged."""

    result: ReconcileResult
    options: ReconcileOptions
    spec: Compared
    hashes: list[int] = field(default_factory=lambda: [0, 0])

    def act(self, action: RepairAction) -> None:
        if len(self.result.actions) < self.options.max_actions:
            self.result.actions.append(action)
        else:
            self.result.actions_complete = False

    def key_of(self, row: FetchedRow) -> dict[str, str | None]:
        return {k: shown(t) for k, t in zip(self.spec.key, row.key_texts, strict=True)}

    def values_of(self, row: FetchedRow) -> dict[str, str | None]:
        return {**self.key_of(row), **{c: shown(t) for c, t in zip(self.spec.columns, row.texts, strict=True)}}

    def source_only(self, row: FetchedRow) -> None:
        if not row.deleted:
            self.result.missing_count += 1
            self.act(RepairAction(INSERT, self.key_of(row), values=self.values_of(row), reason="missing"))

    def target_only(self, row: FetchedRow) -> None:
        self.result.extra_count += 1
        if self.options.delete_extra:
            self.act(RepairAction(DELETE, self.key_of(row), reason="extra"))

    def both(self, src: FetchedRow, tgt: FetchedRow) -> None:
        if src.deleted:
            self.result.extra_count += 1
            self.act(RepairAction(DELETE, self.key_of(src), reason="deleted_in_source"))
            return
        changed = tuple(c for c, a, b in zip(self.spec.columns, src.texts, tgt.texts, strict=True) if a != b)
        if changed:
            self.result.mismatch_count += 1
            for column in changed:
                self.result.mismatched_columns[column] = self.result.mismatched_columns.get(column, 0) + 1
            self.act(RepairAction(UPDATE, self.key_of(src), changed, self.values_of(src), reason="mismatch"))


def _merge(source: Iterator[FetchedRow], target: Iterator[FetchedRow], tally: _Tally, full: bool) -> int:
    """Merge two key-ordered streams into ``tally``; returns the rows read (full mode also hashes them)."""
    src, tgt = next(source, None), next(target, None)
    read = 0
    while src is not None or tgt is not None:
        if src is not None and tgt is not None and src.key_texts == tgt.key_texts:
            tally.both(src, tgt)
            pair: tuple[FetchedRow | None, FetchedRow | None] = (src, tgt)
        elif tgt is None or (src is not None and order_key(src.key) < order_key(tgt.key)):
            assert src is not None
            tally.source_only(src)
            pair = (src, None)
        else:
            tally.target_only(tgt)
            pair = (None, tgt)
        if full:
            _hash_full(tally, *pair)
        if pair[0] is not None:
            src, read = next(source, None), read + 1
        if pair[1] is not None:
            tgt, read = next(target, None), read + 1
    return read


def _hash_full(tally: _Tally, src: FetchedRow | None, tgt: FetchedRow | None) -> None:
    result = tally.result
    if src is not None and src.deleted:
        result.delete_count += 1
    elif src is not None:
        result.source_rows += 1
        tally.hashes[0] = (tally.hashes[0] + row_hash(src.key_texts + src.texts)) & MASK
    if tgt is not None:
        result.target_rows += 1
        tally.hashes[1] = (tally.hashes[1] + row_hash(tgt.key_texts + tgt.texts)) & MASK


def reconcile(
    source: ReconcileSide,
    target: ReconcileSide,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    *,
    delete_column: str | None = None,
    options: ReconcileOptions | None = None,
) -> ReconcileResult:
    """Compare ``source`` with ``target`` by ``key`` over ``columns`` (see the module docstring)."""
    options = options or ReconcileOptions()
    spec = compared(source, target, key, columns, delete_column)
    integer_key = spec.types[spec.key[0]].kind == "int"
    if options.mode == "segments" and not integer_key:
        raise ConfigurationError(
            f"segments need an integer first key column; {spec.key[0]} is {spec.types[spec.key[0]].kind}",
            step="reconcile",
            fix="use --mode full (a streamed full compare), or key on an integer column",
        )
    mode = "full" if options.mode == "full" or not integer_key else "segments"
    if isinstance(source, SqlSide) and isinstance(target, SqlSide) and source.d.name == target.d.name:
        # Both sums come from one engine's own hash: equal rows still sum alike, at a fraction of MD5's cost.
        source.native_hash = target.native_hash = options.native_hash
    result = ReconcileResult(source.name, target.name, spec.key, spec.columns, mode)
    tally = _Tally(result, options, spec)
    if mode == "full":
        rows = _merge(
            source.fetch_rows(spec, None, None), target.fetch_rows(_target_spec(spec), None, None), tally, True
        )
        result.stats["rows_fetched"] = rows
        result.source_checksum = checksum_text(result.source_rows, tally.hashes[0])
        result.target_checksum = checksum_text(result.target_rows, tally.hashes[1])
    else:
        _descend(source, target, tally)
    result.stats["queries"] = sum(int(getattr(side, "queries", 0)) for side in (source, target))
    return result


def _target_spec(spec: Compared) -> Compared:
    """The target is compared without the delete marker: it is the source's column, not the target's."""
    return replace(spec, delete_column=None)


def _descend(source: ReconcileSide, target: ReconcileSide, tally: _Tally) -> None:
    """The segment descent (see the module docstring)."""
    spec, options, result = tally.spec, tally.options, tally.result
    t_spec = _target_spec(spec)
    stats = result.stats
    for name in ("segments_compared", "segments_differing", "segments_fetched", "rows_fetched", "levels"):
        stats[name] = 0
    found = [b for b in (source.key_bounds(spec.key[0], spec), target.key_bounds(spec.key[0], t_spec)) if b is not None]
    result.source_checksum = result.target_checksum = checksum_text(0, 0)
    if not found:
        return
    low, high = min(b[0] for b in found), max(b[1] for b in found) + 1
    pending = [(low, high, 1)]
    while pending:
        lo, hi, level = pending.pop()
        width = -(-(hi - lo) // options.segments)
        s_stats, t_stats = _both(
            partial(source.segment_stats, spec, lo, hi, width),
            partial(target.segment_stats, t_spec, lo, hi, width),
            options.parallel_sides,
        )
        stats["levels"] = max(stats["levels"], level)
        if level == 1:
            _totals(result, s_stats, t_stats)
        for bucket in sorted(set(s_stats) | set(t_stats)):
            s, t = s_stats.get(bucket, _NONE), t_stats.get(bucket, _NONE)
            stats["segments_compared"] += 1
            if (s.count, s.checksum) == (t.count, t.checksum):
                continue
            stats["segments_differing"] += 1
            a, z = lo + bucket * width, min(lo + (bucket + 1) * width, hi)
            if max(s.count + s.deleted, t.count) <= options.bisection_threshold or z - a <= options.segments:
                stats["segments_fetched"] += 1
                fetched = _merge(source.fetch_rows(spec, a, z), target.fetch_rows(t_spec, a, z), tally, False)
                stats["rows_fetched"] += fetched
            else:
                pending.append((a, z, level + 1))


def _both(first: Callable[[], _T], second: Callable[[], _T], parallel: bool) -> tuple[_T, _T]:
    """Both sides' answers; at once on two threads when the sides allow it (drivers release the GIL)."""
    if not parallel:
        return first(), second()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpone-reconcile") as pool:
        other = pool.submit(second)
        return first(), other.result()


def _totals(result: ReconcileResult, s_stats: dict[int, SegmentStat], t_stats: dict[int, SegmentStat]) -> None:
    """Rows, deletes and whole-side checksums from the first level's segments."""
    result.source_rows = sum(s.count for s in s_stats.values())
    result.delete_count = sum(s.deleted for s in s_stats.values())
    result.target_rows = sum(t.count for t in t_stats.values())
    result.source_checksum = checksum_text(result.source_rows, sum(s.checksum for s in s_stats.values()))
    result.target_checksum = checksum_text(result.target_rows, sum(t.checksum for t in t_stats.values()))
