"""A disposable S3 endpoint for tests and benchmarks: ``moto_server`` on 127.0.0.1, stopped by pid."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.postgres.pgserver import free_port
from tests.integration.processes import stop_pid

ACCESS_KEY = "dpone-test"
SECRET_KEY = "dpone-test-secret"


@dataclass
class MotoServer:
    """A running moto S3 server (its log in a temp folder)."""

    url: str
    pid: int
    folder: Path

    def client(self) -> Any:
        """A boto3 client of this server with the test credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        """Create an empty bucket with a unique name and return the name."""
        name = f"dpone-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        """Stop the server by pid and remove its folder."""
        stop_pid(self.pid)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(timeout: float = 30) -> MotoServer:
    """Start ``moto_server`` on a free port and wait until it answers."""
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if binary is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    folder = Path(tempfile.mkdtemp(prefix="dpone-moto-"))
    port = free_port()
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as answer:
                if answer.status == 200:
                    return MotoServer(url, proc.pid, folder)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            text = (folder / "server.log").read_text(errors="replace")[-2000:]
            MotoServer(url, proc.pid, folder).stop()
            raise RuntimeError(f"moto_server did not start: {text}")
        time.sleep(0.05)
