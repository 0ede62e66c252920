"""How many requests a ClickHouse load sends, from the test shim's request log: a regression fails here.

On a server across a network each request costs a round trip; the fixed part of a load is mostly
these. Counted on the shim only (a real server keeps no log of the shim's).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.clickhouse.conftest import ChDatabase
from tests.integration.clickhouse.test_sink import FIRST, SECOND, manifest, passed

pytestmark = pytest.mark.integration

CLIENT_START = ("SELECT version(), timezone()", "SELECT name, value, readonly FROM system.settings", "SELECT 1")
"""What clickhouse-connect sends when a client opens (the raw path pays these too)."""


def kinds(statements: list[str]) -> Counter[str]:
    """Each statement by its first two words (``SELECT count()``, ``INSERT INTO``...)."""
    return Counter(" ".join(s.split()[:2]) for s in statements)


def sent_by(ch: ChDatabase, run: object) -> list[str]:
    """The statements the shim answered while ``run`` ran."""
    if ch.server.request_log is None:
        pytest.skip("counts the requests in the shim's log")
    before = len(ch.server.requests())
    assert callable(run)
    run()
    return ch.server.requests()[before:]


def test_a_full_refresh_reload_sends_25_requests(ch: ChDatabase) -> None:
    m = manifest(ch, FIRST, "full_refresh", primary_key=["id"])
    passed(m)
    (ch.folder / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    sent = sent_by(ch, lambda: passed(m))
    assert all(s.startswith(p) for s, p in zip(sent, CLIENT_START, strict=False)), sent
    assert ch.sql("SELECT count(), min(n) FROM t") == [(3, 3)]  # the rows past the cursor, swapped in
    counted = kinds(sent)
    # One lookup of the databases and dpone's tables, no CREATE ... IF NOT EXISTS once they exist.
    assert sum(1 for s in sent if "system.databases" in s) == 1, sent
    assert not any(s.startswith(("CREATE DATABASE", "CREATE TABLE IF NOT EXISTS")) for s in sent), sent
    # The lease: read, claim, read back; its release is a claim alone. The journal: intent and commit.
    assert sum(1 for s in sent if "__dpone__leases" in s) == 4, sent
    assert sum(1 for s in sent if s.startswith("INSERT INTO `" + ch.database + "`.`__dpone__loads`")) == 2, sent
    assert counted["EXCHANGE TABLES"] == 1 and counted["DROP TABLE"] == 1, sent  # the old version, once
    assert len(sent) == 25, "\n".join(sent)


def test_an_append_sends_23_requests(ch: ChDatabase) -> None:
    m = manifest(ch, FIRST, "append")
    passed(m)
    (ch.folder / "in" / "d.csv").write_text(SECOND, encoding="utf-8")
    sent = sent_by(ch, lambda: passed(m))
    assert ch.sql("SELECT count(), max(n) FROM t") == [(5, 5)]  # the cursor read rows 3-5 only
    assert sum(1 for s in sent if "system.databases" in s) == 1, sent
    assert not any(s.startswith(("CREATE DATABASE", "CREATE TABLE IF NOT EXISTS")) for s in sent), sent
    assert len(sent) == 23, "\n".join(sent)


def test_a_full_refresh_drops_the_sequence_column_without_waiting_for_its_mutation(ch: ChDatabase) -> None:
    # Waiting for the mutation cost about 0.6 s at 5M rows; on a table of one server the column
    # leaves the metadata at once, so the swapped-in table never shows it.
    m = manifest(ch, SECOND, "full_refresh", primary_key=["id"])
    sent = sent_by(ch, lambda: passed(m))
    [drop] = [s for s in sent if "DROP COLUMN" in s]
    assert drop.endswith("SETTINGS alter_sync = 0, mutations_sync = 0"), drop
    columns = ch.sql("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 't'")
    assert [c for (c,) in columns] == ["id", "v", "n"]
    assert ch.sql("SELECT count(), sum(n) FROM t") == [(5, 15)]
