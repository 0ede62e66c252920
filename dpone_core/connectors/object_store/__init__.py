"""What the files and S3 connectors share: file sets read through pyarrow, over a store.

A store (:mod:`.store`) lists objects in key order and opens them through a ``pyarrow.fs``
filesystem; a local directory and an S3 bucket are the two stores. The source reading a set of
files (:mod:`.source`), their formats (:mod:`.formats`) and incremental reads by file
(:mod:`.file_state`) are written once against that interface.
"""

TABLE_STRATEGIES = frozenset({"append", "incremental", "full_refresh", "partition_replace"})
"""What a Parquet table on a folder or bucket takes (files are added or replaced, never updated)."""
DELTA_STRATEGIES = frozenset({"append", "incremental", "full_refresh", "merge", "scd2", "partition_replace"})
"""What a Delta table takes (its rows can be updated in place, unlike a Parquet table's)."""
TABLE_FORMATS = {"parquet": TABLE_STRATEGIES, "delta": DELTA_STRATEGIES}
"""``sink.format`` values of the files and S3 sinks, with their strategies."""
