"""The child processes of ``benchmarks/clickhouse.py``: each path timed in a fresh interpreter.

Arguments: argv[1] the ClickHouse HTTP port, then the child's own. The Postgres password comes in
DPONE_BENCH_PG_PASSWORD. Each prints one JSON line: rows, seconds (timed after its imports) and
its own peak RSS (``hwm_mb``, see ``peak_rss.py``).
"""

from peak_rss import CHILD_HWM

CLIENT = (
    CHILD_HWM
    + """
import json, os, sys, time
import clickhouse_connect
def client(database):
    return clickhouse_connect.get_client(host="127.0.0.1", port=int(sys.argv[1]), compress=False,
                                         database=database, autogenerate_session_id=False)
DDL = ("CREATE TABLE {} (id Int64, customer_id Nullable(Int64), amount Nullable(Decimal(18, 2)), "
       "status Nullable(String), email Nullable(String), updated_at Nullable(DateTime64(6, 'UTC')), "
       "flag Nullable(Bool)) ENGINE = MergeTree ORDER BY id")
def insert_all(database, table, data):
    ch = client(database)
    ch.command(DDL.format(table))
    ch.insert_arrow(table, data, settings={"async_insert": 0})
    return ch.query(f"SELECT count() FROM {table}").result_rows[0][0]
"""
)

RAW_PARQUET_CH = (
    CLIENT
    + """
import pyarrow.dataset as ds
folder, database, table = sys.argv[2], sys.argv[3], sys.argv[4]
start = time.perf_counter()
data = ds.dataset(folder, format="parquet").to_table()
rows = insert_all(database, table, data)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

RAW_PG_CH = (
    CLIENT
    + """
import adbc_driver_postgresql.dbapi as adbc
uri = sys.argv[2].replace("PASSWORD", os.environ["DPONE_BENCH_PG_PASSWORD"])
database, table = sys.argv[3], sys.argv[4]
start = time.perf_counter()
with adbc.connect(uri) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM src")
        data = cur.fetch_arrow_table()
rows = insert_all(database, table, data)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

DPONE = (
    CHILD_HWM
    + """
import json, sys, time
import dpone_core.api, dpone_core.runtime.attempt  # imports outside the timing
import dpone_core.connectors.clickhouse.sink, dpone_core.connectors.clickhouse.commit, clickhouse_connect
import dpone_core.connectors.postgres.source, dpone_core.connectors.object_store.source
import adbc_driver_postgresql.dbapi, pyarrow, pyarrow.dataset
pyarrow.array([0])  # pyarrow imports pandas (when installed) on its first list conversion: an import, not work
start = time.perf_counter()
report = dpone_core.api.run(sys.argv[1])
elapsed = time.perf_counter() - start
assert report.passed, report.to_text()
figures = {"rows": report.result.extracted_rows, "seconds": elapsed, "steps": report.result.step_seconds}
print(json.dumps({**figures, "hwm_mb": hwm()}))
"""
)
