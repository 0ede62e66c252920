"""The child processes of ``benchmarks/s3.py``: each path timed in a fresh interpreter.

Every child gets argv[1] the S3 endpoint, argv[2] the bucket, then its own arguments; the S3 keys
(DPONE_BENCH_S3_KEY, DPONE_BENCH_S3_SECRET) and the Postgres password (DPONE_BENCH_PG_PASSWORD) come
in the environment. Each prints one JSON line: rows, seconds (timed after its imports) and its own
peak RSS (``hwm_mb``, see ``peak_rss.py``).
"""

from peak_rss import CHILD_HWM

S3FS = (
    CHILD_HWM
    + """
import os, sys
import pyarrow.fs as pafs
def s3fs():
    return pafs.S3FileSystem(endpoint_override=sys.argv[1].removeprefix("http://"), scheme="http",
                             access_key=os.environ["DPONE_BENCH_S3_KEY"],
                             secret_key=os.environ["DPONE_BENCH_S3_SECRET"], region="us-east-1")
"""
)

RAW_S3_DUCKDB = (
    S3FS
    + """
import duckdb, json, time
import pyarrow.dataset as ds
bucket, db = sys.argv[2], sys.argv[3]
con = duckdb.connect(db)
start = time.perf_counter()
reader = ds.dataset(f"{bucket}/in/", filesystem=s3fs(), format="parquet").scanner().to_reader()
con.execute("CREATE TABLE t AS SELECT * FROM reader")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()  # both paths end with the database checkpointed and closed, as dpone.run does
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

RAW_S3_PG = (
    S3FS
    + """
import json, time
import adbc_driver_postgresql.dbapi as adbc
import pyarrow.dataset as ds
bucket, uri, table = sys.argv[2], sys.argv[3].replace("PASSWORD", os.environ["DPONE_BENCH_PG_PASSWORD"]), sys.argv[4]
start = time.perf_counter()
reader = ds.dataset(f"{bucket}/in/", filesystem=s3fs(), format="parquet").scanner().to_reader()
with adbc.connect(uri) as conn:
    with conn.cursor() as cur:
        rows = cur.adbc_ingest(table, reader, mode="create")
    conn.commit()
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

RAW_PG_S3 = (
    S3FS
    + """
import json, time
import adbc_driver_postgresql.dbapi as adbc
import pyarrow.parquet as pq
bucket, uri, key = sys.argv[2], sys.argv[3].replace("PASSWORD", os.environ["DPONE_BENCH_PG_PASSWORD"]), sys.argv[4]
start = time.perf_counter()
with adbc.connect(uri) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM src")
        table = cur.fetch_arrow_table()
pq.write_table(table, f"{bucket}/{key}", filesystem=s3fs())
print(json.dumps({"rows": table.num_rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

DELTA_OPTIONS = """
def delta_options():
    return {"AWS_ENDPOINT_URL": sys.argv[1], "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": os.environ["DPONE_BENCH_S3_KEY"],
            "AWS_SECRET_ACCESS_KEY": os.environ["DPONE_BENCH_S3_SECRET"], "conditional_put": "etag"}
"""

RAW_PG_DELTA = (
    S3FS
    + DELTA_OPTIONS
    + """
import json, time
import adbc_driver_postgresql.dbapi as adbc
from deltalake import write_deltalake
bucket, uri, key = sys.argv[2], sys.argv[3].replace("PASSWORD", os.environ["DPONE_BENCH_PG_PASSWORD"]), sys.argv[4]
start = time.perf_counter()
with adbc.connect(uri) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM src")
        table = cur.fetch_arrow_table()
write_deltalake(f"s3://{bucket}/{key}", table, mode="overwrite", storage_options=delta_options())
print(json.dumps({"rows": table.num_rows, "seconds": time.perf_counter() - start, "hwm_mb": hwm()}))
"""
)

DPONE = (
    CHILD_HWM
    + """
import json, sys, time
import dpone_core.api, dpone_core.runtime.attempt  # imports outside the timing
import dpone_core.connectors.object_store.delta_sink, deltalake
import dpone_core.connectors.duckdb.sink, dpone_core.connectors.postgres.sink, dpone_core.connectors.postgres.source
import dpone_core.connectors.object_store.source, dpone_core.connectors.object_store.table_sink
import dpone_core.connectors.s3.store
import adbc_driver_postgresql.dbapi, boto3, botocore.config, pyarrow, pyarrow.dataset, pyarrow.fs, pyarrow.parquet
boto3.session.Session().client("s3", region_name="us-east-1")  # boto3 loads its service models on first use
pyarrow.array([0])  # pyarrow imports pandas (when installed) on its first list conversion: an import, not work
start = time.perf_counter()
report = dpone_core.api.run(sys.argv[3])
elapsed = time.perf_counter() - start
assert report.passed, report.to_text()
figures = {"rows": report.result.extracted_rows, "seconds": elapsed, "steps": report.result.step_seconds}
print(json.dumps({**figures, "hwm_mb": hwm()}))
"""
)
