"""A million-key listing stays in bounded memory: S3Store lists through boto3's paginator page by page."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
KEYS = 1_000_000
LISTER = """
import json, sys
from dpone_core.connectors.object_store.globs import FilePattern
from dpone_core.connectors.s3.profile import S3Profile
from dpone_core.connectors.s3.store import S3Settings, S3Store

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

profile = S3Profile.model_validate({"type": "s3", "bucket": "generated", "endpoint_url": sys.argv[1],
    "region": "us-east-1", "path_style": True, "access_key_id": "test",
    "secret_access_key": "${env:DPONE_LISTING_SECRET}"})
store = S3Store(S3Settings.of(profile, "."))
seen, marks, size = 0, {}, 0
for info in store.objects(FilePattern("many/*.csv")):
    seen += 1
    size += info.size
    if seen in (100_000, 1_000_000):
        marks[seen] = rss()
print(json.dumps({"count": seen, "bytes": size, "rss": marks}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listing_url() -> Iterator[str]:
    """The generated-bucket listing server on a free port, stopped by pid afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "listing_server.py"), str(port), str(KEYS)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_million_key_listing_does_not_grow_memory(listing_url: str) -> None:
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "DPONE_LISTING_SECRET": "test"}
    done = subprocess.run(
        [sys.executable, "-c", LISTER, listing_url], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["count"] == KEYS
    assert result["bytes"] == sum(100 + i % 50 for i in range(KEYS))
    at_100k, at_1m = result["rss"]["100000"], result["rss"]["1000000"]
    # Nine hundred thousand more keys listed, and the process holds what it held at 100k.
    assert at_1m - at_100k < 16 * 2**20, result
