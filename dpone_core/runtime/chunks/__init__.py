"""Chunked loads: partitions extracted by parallel runs, committed by one finalize run.

An orchestrator maps one *extract* run over the partition keys of a process (each reads its
slice from the source and parks it as an Arrow IPC file under ``partitions.chunk_dir``), then one
*finalize* run reads every parked chunk as its source and goes through the whole fail-closed
lifecycle: gates over all rows (uniqueness across chunks included), staging, strategy, evidence,
audit row and state in one transaction. Until the finalize commits, the target is untouched.
"""
