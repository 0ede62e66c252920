"""One attempt of one process, in the fail-closed order of ARCHITECTURE §1.

connect -> (a committed run id: nothing to do) -> source -> plan gates (:mod:`.preparation`) ->
write path (:mod:`.write_paths`) -> commit (:mod:`.commit`: DDL, strategy, checks, evidence, audit
row and state together) -> report. A failure anywhere before the commit leaves the target and the
state as they were. A write path that declines (nothing committed) makes the attempt prepare the
load again for the next path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from dpone_core.connections.references import UnresolvedReference
from dpone_core.connectors.endpoints import open_sink, open_source
from dpone_core.errors import ConfigurationError
from dpone_core.runtime.attempt_log import AttemptLog
from dpone_core.runtime.chunks.store import chunk_store
from dpone_core.runtime.context import AttemptOutcome, RunContext
from dpone_core.runtime.progress import ProgressTracker
from dpone_core.runtime.report import GateVerdict, RunResult
from dpone_core.spi.ports import Sink, Source

if TYPE_CHECKING:
    from dpone_core.runtime.write_paths import PathName

T = TypeVar("T")


class Attempt:
    """Runs one attempt of one process against its source and sink."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.log = AttemptLog(ctx.progress or ProgressTracker(ctx.process.name))

    @property
    def gates(self) -> list[GateVerdict]:
        """The verdicts so far (also of a failed attempt, for the report)."""
        return self.log.gates

    @property
    def warnings(self) -> list[str]:
        """The warnings so far."""
        return self.log.warnings

    def run(self) -> AttemptOutcome:
        """Execute the attempt; raises DponeError on failure (the caller builds the report)."""
        ctx = self.ctx
        self.log.step("connect")
        sink = _configured(
            "sink",
            lambda: open_sink(
                ctx.loaded.manifest, ctx.process, ctx.loaded.base_dir, read_only=ctx.dry_run, loading=not ctx.dry_run
            ),
        )
        try:
            committed = None if ctx.restart or ctx.dry_run else self._already_committed(sink)
            if committed is not None:
                return committed
            sink.load_follows()
            source = _configured("source", lambda: self._open_source(sink))
            try:
                return self._write(sink, source)
            finally:
                source.close()
        finally:
            sink.close()

    def _already_committed(self, sink: Sink) -> AttemptOutcome | None:
        ctx = self.ctx
        committed = sink.committed_load(ctx.process.name, ctx.run_id)
        if committed is None:
            return None
        result = RunResult(
            state_after=sink.read_state(ctx.process.name),
            target=sink.describe(),
            warnings=[
                f"run_id {ctx.run_id} already committed as load {committed['load_id']}; "
                "nothing to do (use --restart to run again)"
            ],
        )
        if ctx.chunk_keys is not None:
            chunk_store(ctx).remove()  # left by a finalize that committed and then died
        return AttemptOutcome("skipped", result, ctx.process.sink.strategy)

    def _open_source(self, sink: Sink) -> Source:
        """The process's source; for the finalize of a chunked load, the chunks its extract runs parked."""
        ctx = self.ctx
        if ctx.chunk_keys is None:
            return open_source(ctx.loaded.manifest, ctx.process, ctx.loaded.base_dir, sink)
        from dpone_core.runtime.chunks.source import ChunkSource

        store = chunk_store(ctx)
        return ChunkSource(store, store.require(ctx.chunk_keys))

    def _write(self, sink: Sink, source: Source) -> AttemptOutcome:
        # The load path's modules (gates, pyarrow.compute, write paths) are imported only when
        # rows move: a run whose id already committed ends before this and starts faster.
        from dpone_core.runtime.preparation import draft, prepare
        from dpone_core.runtime.results import load_result
        from dpone_core.runtime.write_paths import Declined, choose

        excluded: set[PathName] = set()
        while True:
            drafted = draft(self.ctx, sink, source, self.log)
            if self.ctx.dry_run:
                assert drafted.evolution is not None
                result = load_result(sink, source, drafted.state_before, None, ddl=drafted.ddl, **self.log.so_far())
                return AttemptOutcome("planned", result, self.ctx.process.sink.strategy)
            prepared = prepare(drafted)
            path = choose(prepared, excluded)
            outcome = path.write(prepared)
            if not isinstance(outcome, Declined):
                return outcome
            excluded.add(outcome.path)
            if outcome.reason:
                self.log.warnings.append(outcome.reason)
            self.log.restart()


def _configured(role: str, opener: Callable[[], T]) -> T:
    """Open a connection; an unresolved reference in its profile is a configuration error (exit 2)."""
    try:
        return opener()
    except UnresolvedReference as exc:
        raise ConfigurationError(
            f"{role} connection: {exc}", step="connect", fix="export the variable or create the file"
        ) from None
