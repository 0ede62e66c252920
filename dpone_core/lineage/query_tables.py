"""The tables a query source really reads, parsed with sqlglot (CTEs and subqueries resolved away).

Lineage of ``source: {query: ...}`` names these tables instead of a made-up ``query`` dataset. The
parser is best effort by design: SQL it cannot read (a vendor extension, a templated fragment)
yields None and the caller falls back to one dataset named ``query``, so lineage never fails a load.
"""

from __future__ import annotations

import logging

from dpone_core.model import TableRef

log = logging.getLogger(__name__)


def query_tables(sql: str, dialect: str | None) -> list[TableRef] | None:
    """The stored tables ``sql`` reads, in first-seen order; None when sqlglot is absent or cannot parse it.

    >>> query_tables("with r as (select * from sales.orders) select * from r join customers c on true", "postgres")
    [TableRef(schema='sales', name='orders'), TableRef(schema=None, name='customers')]
    """
    try:
        import sqlglot
        from sqlglot import exp
        from sqlglot.errors import SqlglotError
        from sqlglot.optimizer.scope import traverse_scope
    except ImportError:
        return None
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        scopes = traverse_scope(tree)
    except (SqlglotError, ValueError, KeyError) as exc:
        log.debug("lineage: could not parse the query source (%s); naming it 'query'", exc)
        return None
    found: list[TableRef] = []
    for scope in scopes:
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and source.name:
                ref = TableRef(source.db or None, source.name)
                if ref not in found:
                    found.append(ref)
    return found or None
