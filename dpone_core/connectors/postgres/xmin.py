"""xmin-based incremental reads: which rows a transaction horizon selects, and the 32-bit caveat.

Every row version carries ``xmin``, the 32-bit id of the transaction that wrote it (an INSERT or
an UPDATE). A read runs in one REPEATABLE READ transaction; its snapshot's ``xmin`` (64-bit,
``txid_snapshot_xmin``) is the horizon: every transaction below it had finished when the rows were
read, so a later read only needs rows whose writer is at or past the committed horizon. Rows of
transactions open at the previous read are read again (merge keeps that idempotent).

Row xmins are 32-bit and wrap around every 2^32 transactions. The predicate measures each row's
age modulo 2^32 back from the snapshot's ``xmax`` and compares it with the distance to the horizon,
which is exact while fewer than 2^31 transactions separate two reads (VACUUM freezes older rows
before the counter can overtake them). Frozen rows keep their original xmin and may be read
again after a wraparound; rows are never missed. When the horizon is more than 2^31 transactions
old (or ahead of the server: a restored or different cluster) the run reads the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE_KEY = "xmin_horizon"
"""Key of the committed horizon in ``__dpone__state.state_json``."""
WRAP = 1 << 32
SAFE_DISTANCE = 1 << 31


@dataclass(frozen=True)
class XminPlan:
    """What one xmin read selects: ``predicate`` (pyformat SQL, None = every row) and the new horizon."""

    predicate: str | None
    values: dict[str, int]
    horizon: int
    note: str | None = None


def plan_xmin(committed: int | None, snapshot_xmin: int, snapshot_xmax: int) -> XminPlan:
    """The row filter for a read after horizon ``committed`` in a snapshot (``xmin``, ``xmax``: 64-bit).

    >>> plan_xmin(None, 900, 1000).predicate is None
    True
    >>> plan_xmin(900, 990, 1000).values
    {'xmin_xmax32': 1000, 'xmin_distance': 100}
    >>> plan_xmin(10**10, 900, 1000).note.startswith("the committed xmin horizon")
    True
    """
    if committed is None:
        return XminPlan(None, {}, snapshot_xmin)
    distance = snapshot_xmax - committed
    if distance < 0 or distance >= SAFE_DISTANCE:
        note = (
            f"the committed xmin horizon {committed} is "
            + ("ahead of this server's transaction counter" if distance < 0 else "more than 2^31 transactions old")
            + f" (now {snapshot_xmax}): read the whole table"
        )
        return XminPlan(None, {}, snapshot_xmin, note)
    predicate = f"((%(xmin_xmax32)s - xmin::text::bigint + {WRAP}) %% {WRAP}) <= %(xmin_distance)s"
    return XminPlan(predicate, {"xmin_xmax32": snapshot_xmax % WRAP, "xmin_distance": distance}, snapshot_xmin)
