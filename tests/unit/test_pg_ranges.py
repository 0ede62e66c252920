"""How a Postgres table read is split into ctid ranges (``parallel_read.plan_ranges``)."""

from __future__ import annotations

from itertools import pairwise

from dpone_core.connectors.postgres.parallel_read import MAX_RANGES, MIN_RANGE_BYTES, CtidRange, plan_ranges


def test_a_small_table_is_one_copy() -> None:
    assert plan_ranges(MIN_RANGE_BYTES - 1, 8192, None, 8) == [CtidRange(0, None)]
    assert CtidRange(0, None).predicate() == "TRUE"


def test_ranges_cover_every_page_once_and_the_last_is_open() -> None:
    ranges = plan_ranges(10 * MIN_RANGE_BYTES, 8192, None, 16)
    assert len(ranges) == MAX_RANGES
    assert ranges[0].first == 0 and ranges[-1].end is None
    assert all(a.end == b.first for a, b in pairwise(ranges))
    assert ranges[1].predicate() == f"ctid >= '({ranges[1].first},0)'::tid AND ctid < '({ranges[1].end},0)'::tid"
    assert ranges[-1].predicate() == f"ctid >= '({ranges[-1].first},0)'::tid"


def test_ranges_follow_the_cpus_and_the_option() -> None:
    assert len(plan_ranges(10 * MIN_RANGE_BYTES, 8192, None, 2)) == 1  # a range per two CPUs
    assert len(plan_ranges(10 * MIN_RANGE_BYTES, 8192, None, 4)) == 2
    assert len(plan_ranges(10 * MIN_RANGE_BYTES, 8192, 2, 2)) == 2
    assert len(plan_ranges(10 * MIN_RANGE_BYTES, 8192, 1, 8)) == 1
    assert len(plan_ranges(3 * 8192, 8192, 8, 8)) == 3  # never more ranges than pages
    assert plan_ranges(0, 8192, 4, 8) == [CtidRange(0, None)]
