"""The finalize lease of a ClickHouse sink: one publishing run per process, without transactions.

``__dpone__leases`` holds one row per lease epoch of a process. To take the lease a run reads the
newest epoch; if it is held and not expired, the run is refused (or waits). Otherwise it inserts
epoch + 1 with itself as holder, under the deduplication token ``lease:<process>:<epoch + 1>``.
ClickHouse keeps the first block of a token and silently drops later blocks with the same token,
whatever they hold, so of two runs racing for the same epoch exactly one row is stored: each reads
the epoch back and only the one it names holds the lease. That is a compare-and-set built from
insert deduplication (the table keeps a deduplication window far larger than the races it sees).

The holder is ``<load id>@<host>:<pid>``. A lease whose holder ran on this host and whose process
is gone (a kill -9) is free at once; elsewhere it expires after ``lease_seconds``. The release
writes one more epoch with no holder.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from dpone_core.connectors.clickhouse.arrow_body import table_chunk
from dpone_core.connectors.clickhouse.client import ClickHouseClient
from dpone_core.connectors.clickhouse.presence import Presence
from dpone_core.connectors.clickhouse.sql import TableLayout, create_table_sql, table
from dpone_core.errors import ConcurrentRunError
from dpone_core.model import TableRef, TargetColumn, TargetSchema

LEASES_TABLE = "__dpone__leases"
_TS = pa.timestamp("ms", tz="UTC")
LEASE_SCHEMA = TargetSchema(
    (
        TargetColumn("process", pa.string(), False),
        TargetColumn("epoch", pa.uint64(), False),
        TargetColumn("holder", pa.string(), False),
        TargetColumn("expires_at", _TS, False),
    )
)


class Lease:
    """Take and give back the lease of one process."""

    def __init__(
        self, client: ClickHouseClient, database: str, describe: str, presence: Presence | None = None
    ) -> None:
        self.client, self.describe = client, describe
        self.ref = TableRef(database, LEASES_TABLE)
        self.presence = presence or Presence(client, (database,), database, (LEASES_TABLE,))

    def ensure_table(self) -> None:
        """Create the lease table when missing (its database exists: the journal's, created first)."""
        if not self.presence.has_table(LEASES_TABLE):
            self.presence.ensure_database(str(self.ref.schema), step="finalize")
            ddl = create_table_sql(self.ref, LEASE_SCHEMA, TableLayout(order_by=("process", "epoch")))
            self.client.command(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1), step="finalize")
            self.presence.add_table(LEASES_TABLE)

    def _newest(self, process: str) -> tuple[int, str, datetime]:
        rows = self.client.rows(
            f"SELECT epoch, holder, expires_at FROM {table(self.ref)} WHERE process = {{p:String}} "
            "ORDER BY epoch DESC LIMIT 1",
            {"p": process},
            what="reading the finalize lease",
        )
        if not rows:
            return 0, "", datetime.fromtimestamp(0, UTC)
        epoch, holder, expires = rows[0]
        return int(epoch), str(holder), _aware(expires)

    def _claim(self, process: str, epoch: int, holder: str, expires: datetime, *, read_back: bool = True) -> str | None:
        """Insert ``epoch`` for ``holder``; the holder ClickHouse kept for it (None: nothing stored, or not
        ``read_back``)."""
        row = pa.table(
            {"process": [process], "epoch": pa.array([epoch], pa.uint64()), "holder": [holder],
             "expires_at": pa.array([expires], _TS)},
            schema=LEASE_SCHEMA.arrow_schema(),
        )  # fmt: skip
        self.client.insert_stream(
            table(self.ref),
            row.column_names,
            table_chunk(row).body(),
            settings={"insert_deduplication_token": f"lease:{process}:{epoch}"},
            step="finalize",
            what="writing the finalize lease",
        )
        if not read_back:
            return None
        rows = self.client.rows(
            f"SELECT holder FROM {table(self.ref)} WHERE process = {{p:String}} AND epoch = {{e:UInt64}}",
            {"p": process, "e": epoch},
        )
        return str(rows[0][0]) if rows else None

    def acquire(self, process: str, holder: str, seconds: int, wait_seconds: int | None) -> int:
        """Take the lease for ``holder`` (a load id); returns its epoch, or raises ConcurrentRunError."""
        self.ensure_table()
        deadline = time.monotonic() + (wait_seconds or 0)
        burnt = 0
        while True:
            epoch, current, expires = self._newest(process)
            epoch += burnt
            now = datetime.now(UTC)
            if not current or expires <= now or _dead(current):
                kept = self._claim(process, epoch + 1, holder, now + timedelta(seconds=seconds))
                if kept == holder:
                    return epoch + 1
                if kept is None and burnt < 100:
                    # Nothing stored: the token matched a block the table remembers from rows that
                    # are gone (a truncated lease table). That epoch is burnt: claim the next one.
                    burnt += 1
                    continue
                current = kept or "another run"
            if time.monotonic() >= deadline:
                raise ConcurrentRunError(
                    f"process {process} is already publishing into {self.describe} (lease held by load {current}); "
                    "nothing was published",
                    step="finalize",
                    fix="wait for the other run to finish, or set lease_wait_seconds on the sink options to wait",
                )
            time.sleep(0.5)

    def release(self, process: str, holder: str, epoch: int) -> None:
        """Give the lease back (a no-op when another run took it over after it expired).

        Nothing is read back: whichever row ClickHouse kept for the next epoch, this run holds no lease.
        """
        self._claim(process, epoch + 1, "", datetime.now(UTC), read_back=False)

    def held(self, process: str, holder: str, epoch: int) -> bool:
        """The lease of ``epoch`` is still ours (not expired, not taken over)."""
        newest, current, expires = self._newest(process)
        return newest == epoch and current == holder and expires > datetime.now(UTC)


def holder_id(load_id: str) -> str:
    """Who holds a lease: the load, its host and its process."""
    return f"{load_id}@{socket.gethostname()}:{os.getpid()}"


def _dead(holder: str) -> bool:
    """The holder ran on this host and its process no longer exists."""
    _, _, where = holder.rpartition("@")
    host, _, pid = where.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
