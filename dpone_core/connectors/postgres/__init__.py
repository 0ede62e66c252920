"""PostgreSQL source and sink: binary COPY through the ADBC driver, finalize in one transaction.

``profile``-level details live in :mod:`.connection`, the catalog <-> Arrow type map in :mod:`.types`,
SQL rendering in :mod:`.sql`; :mod:`.source` and :mod:`.sink` implement the ports.
"""
