"""How the gated rows reach the target: staged, direct, or relayed. Chosen up front from capabilities.

* ``staged``: every sink. The stream is bulk-loaded into staging, duplicate keys are resolved by
  the contract, then the commit's strategy reads staging.
* ``direct``: a sink with the ``direct_load`` capability, when :func:`.direct.direct_eligible`
  holds. The stream goes straight into the target inside the commit; nothing is read twice.
* ``relay``: a direct load whose sink has ``binary_relay`` and whose source offers its rows as the
  system's own bytes (:func:`.direct.relay_allowed`); also a merge, whose sink relays the rows into
  a staging table inside the commit and merges from it (:func:`.direct.relay_staging_eligible`).
* ``native``: a sink that reads the source's files itself (``reads_files``), the contract as SQL
  over the same scan (:mod:`.native_read`). Tried before the others.

A path that cannot finish without breaking a rule *declines* (a duplicate key in a direct load, a
row the relay's checks would reject) with a reason; nothing was committed, and the attempt
prepares the load again for the next path, which it no longer offers that one. A new write path
(a ClickHouse insert with dedup tokens, a Kafka offset commit) is one more class here and one more
line in :func:`choose`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Protocol

import pyarrow as pa

from dpone_core.checkpoints import checkpoint
from dpone_core.connectors.sql.sink import staging_name
from dpone_core.errors import DuplicateKeyError
from dpone_core.model import SEQ_COLUMN, StagedLoad, TableRef
from dpone_core.runtime.chunks.store import chunk_store
from dpone_core.runtime.commit import commit, record_verdicts
from dpone_core.runtime.context import AttemptOutcome
from dpone_core.runtime.direct import direct_eligible, relay_allowed, relay_staging_eligible
from dpone_core.runtime.native_read import count_scanned, describe_rules, native_scan, scan_keys
from dpone_core.runtime.preparation import Prepared
from dpone_core.runtime.verdicts import resolve_duplicates
from dpone_core.spi.ports import SCAN_LOCATION, FileScan, RelayOffer, RelayRefused, ScanRefused, ScanViolation

PathName = Literal["native", "relay", "direct", "staged"]


@dataclass(frozen=True)
class Declined:
    """The path could not finish; nothing was committed. ``path`` is not offered again in this attempt."""

    path: PathName
    reason: str
    """Shown as a warning of the run when it matters to the user (empty otherwise)."""


class WritePath(Protocol):
    """One way of writing a prepared load."""

    name: PathName

    def write(self, prepared: Prepared) -> AttemptOutcome | Declined:
        """Write and commit, or decline."""
        ...


def finished(prepared: Prepared) -> None:
    """After the commit: the quarantine file is the target's, the chunks of a chunked load are consumed."""
    prepared.quarantine.committed()
    ctx = prepared.draft.ctx
    if ctx.chunk_keys is not None:
        chunk_store(ctx).remove()


def failed(prepared: Prepared, error: BaseException) -> BaseException:
    """Stop the stream, record the verdicts as failed, drop the quarantine file; the error to raise."""
    prepared.stream.close()
    record_verdicts(prepared, failed=True)
    prepared.quarantine.discard()
    return prepared.stream.failure(error)


class StagedWrite:
    """Bulk-load into staging, resolve duplicate keys, then commit the strategy over staging."""

    name: PathName = "staged"

    def write(self, prepared: Prepared) -> AttemptOutcome:
        """Stage, resolve duplicates and commit (the one path every sink has)."""
        draft = prepared.draft
        ctx, sink, stream = draft.ctx, draft.sink, prepared.stream
        staged: StagedLoad | None = None
        try:
            draft.log.step("stage")
            staged = sink.stage(stream.reader(), ctx.load_id, ctx.process.name)
            checkpoint("stage")
            outcome = self._commit(prepared, staged)
        except BaseException as exc:
            failure = failed(prepared, exc)
            if staged is not None:
                sink.drop_staging(staged)
            if failure is exc:
                raise
            raise failure from None
        sink.drop_staging(staged)
        finished(prepared)
        return outcome

    def _commit(self, prepared: Prepared, staged: StagedLoad) -> AttemptOutcome:
        draft = prepared.draft
        ctx, key = draft.ctx, tuple(draft.ctx.process.sink.primary_key)
        # Into a table this load creates, the primary key itself rejects duplicate keys: check them
        # only if the insert fails (the common, clean case skips a full pass over staging).
        enforced = ctx.sink_spec.capabilities.enforces_keys
        deferred = key if prepared.evolution.creates_table and key and enforced else ()
        staged = self._resolve(prepared, staged, skip=deferred)
        record_verdicts(prepared)
        try:
            return commit(prepared, staged)
        except DuplicateKeyError:
            if not deferred:
                raise
            staged = self._resolve(prepared, staged, only=deferred)
            draft.log.gates[:] = [g for g in draft.log.gates if g.gate != "contract"]
            record_verdicts(prepared)
            return commit(prepared, staged)

    @staticmethod
    def _resolve(
        prepared: Prepared, staged: StagedLoad, *, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None
    ) -> StagedLoad:
        draft = prepared.draft
        key = draft.ctx.process.sink.primary_key
        stats = prepared.stream.stats
        if only is not None:
            return resolve_duplicates(draft.sink, staged, prepared.contract, prepared.quarantine, stats, key, only=only)
        return resolve_duplicates(draft.sink, staged, prepared.contract, prepared.quarantine, stats, key, skip=skip)


class DirectWrite:
    """Stream the gated batches into the target inside the commit (optionally as a binary relay).

    Into a new table, one the sink truncates in that transaction, or one an append only adds to,
    no statement reads the rows twice; the target's key rejects duplicates (the path declines and
    the load goes through staging), and a gate failure rolls everything back with the commit.
    """

    def __init__(self, relay: RelayOffer | None = None) -> None:
        self.relay = relay
        self.name: PathName = "relay" if relay is not None else "direct"

    def write(self, prepared: Prepared) -> AttemptOutcome | Declined:
        """Register the stream (and relay) with the sink and commit; decline on a duplicate key or refused relay."""
        try:
            return self._write(prepared)
        finally:
            if self.relay is not None:
                self.relay.close()

    def _write(self, prepared: Prepared) -> AttemptOutcome | Declined:
        draft = prepared.draft
        ctx, sink, stream = draft.ctx, draft.sink, prepared.stream
        name = staging_name(ctx.process.name, ctx.load_id)
        data_schema = pa.schema([f for f in stream.staging_schema() if f.name != SEQ_COLUMN])
        staged = StagedLoad(ctx.load_id, "direct", -1, data_schema, TableRef(None, name))
        draft.log.step("stage")
        checkpoint("stage")
        try:
            sink.register_stream(name, stream.reader())
            if self.relay is not None:
                self.relay.report_rows_to(stream.count_relayed)
                sink.register_relay(name, self.relay)
            try:
                outcome = commit(prepared, staged)
            finally:
                sink.unregister_stream(name)
        except DuplicateKeyError:
            prepared.quarantine.discard()
            return Declined("direct", "duplicate keys in a direct load: read again through staging")
        except RelayRefused:
            # The relay's checks found a row the gates must judge, or the target's types differ:
            # read again as Arrow, where the gates decide and report.
            prepared.quarantine.discard()
            return Declined("relay", "")
        except BaseException as exc:
            failure = failed(prepared, exc)
            if failure is exc:
                raise
            raise failure from None
        finished(prepared)
        return outcome


class NativeRead:
    """The sink reads the source's files into a view of its own, the contract runs as SQL, then the commit.

    Guarded first (a breaking row stops the statement reading it); under ``quarantine`` a breaking
    row makes it scan again, split. Anything else that stops it declines to the Arrow paths.
    """

    name: PathName = "native"

    def __init__(self, scan: FileScan) -> None:
        self.scan = scan

    def write(self, prepared: Prepared) -> AttemptOutcome | Declined:
        """Scan and commit, or decline (nothing committed)."""
        if not describe_rules(prepared, self.scan.schema):
            return Declined("native", "")
        prepared.draft.log.step("stage")
        for split in (False, True):
            try:
                outcome = self._write(prepared, split=split)
            except ScanViolation:
                prepared.quarantine.discard()
                if split or prepared.contract.enforcement != "quarantine":
                    break  # the gates stop the load, naming the first failing value
                continue
            except (ScanRefused, DuplicateKeyError):
                prepared.quarantine.discard()  # a repeated key, or the engine would read otherwise
                break
            except BaseException as exc:
                failure = failed(prepared, exc)
                if failure is exc:
                    raise
                raise failure from None
            prepared.stream.progress.advance(prepared.stream.stats.extracted)
            finished(prepared)
            return outcome
        return Declined("native", "")

    def _write(self, prepared: Prepared, *, split: bool) -> AttemptOutcome:
        ctx, sink = prepared.draft.ctx, prepared.draft.sink
        name = staging_name(ctx.process.name, ctx.load_id)
        staged = StagedLoad(ctx.load_id, SCAN_LOCATION, -1, self.scan.schema, TableRef("temp", name))
        try:
            scanned = sink.scan_files(name, self.scan, prepared.contract, split=split, unique=scan_keys(prepared))
            count_scanned(prepared, scanned)
            checkpoint("stage")
            staged = dataclasses.replace(staged, rows=scanned.rows - scanned.rejected_rows)
            return commit(prepared, staged)
        finally:
            sink.drop_staging(staged)


def choose(prepared: Prepared, excluded: set[PathName]) -> WritePath:
    """The fastest path the connectors' capabilities and this load allow, minus those that declined.

    A merge that cannot go direct may still stage by relay (the sink relays into a staging table of
    its commit, see :func:`.direct.relay_staging_eligible`); declined, it stages through Arrow.
    """
    draft = prepared.draft
    ctx, process = draft.ctx, draft.ctx.process
    can = ctx.sink_spec.capabilities
    whole = ctx.partition is None and ctx.chunk_keys is None
    scan = native_scan(prepared, whole=whole) if "native" not in excluded and can.reads_files else None
    if scan is not None:
        return NativeRead(scan)
    direct = "direct" not in excluded and direct_eligible(
        process, can, draft.sink, prepared.evolution, prepared.contract, prepared.ddl, draft.source
    )
    staging_relay = (
        not direct
        and "direct" not in excluded
        and relay_staging_eligible(process, can, prepared.contract, prepared.ddl)
    )
    if not (direct or staging_relay):
        return StagedWrite()
    relay = None
    if "relay" not in excluded and relay_allowed(
        process, can, draft.opened, prepared.contract, prepared.evolution, whole=whole
    ):
        relay = draft.source.binary_relay(prepared.contract)
    if relay is None and not direct:
        return StagedWrite()
    return DirectWrite(relay)
