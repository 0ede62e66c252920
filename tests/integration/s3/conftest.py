"""Fixtures for the S3 tests: one moto server per xdist worker, a fresh bucket per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.s3.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer, start_server

pytestmark = pytest.mark.integration
SECRET_ENV = "DPONE_TEST_S3_SECRET"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A running moto S3 server for this worker (stopped at the end of the session)."""
    pytest.importorskip("boto3")
    server = start_server()
    os.environ[SECRET_ENV] = SECRET_KEY
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Bucket:
    """A fresh bucket of the test server, with helpers to write objects and manifests."""

    server: MotoServer
    name: str
    folder: Path

    @property
    def client(self) -> Any:
        """boto3 client of the server."""
        return self.server.client()

    def put(self, key: str, body: bytes) -> None:
        """Write one object."""
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix``, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def profile(self, **extra: Any) -> dict[str, Any]:
        """An ``s3`` connection profile for this bucket (the secret is an env reference)."""
        return {
            "type": "s3",
            "bucket": self.name,
            "endpoint_url": self.server.url,
            "region": "us-east-1",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": "${env:" + SECRET_ENV + "}",
            **extra,
        }

    def manifest(self, processes: list[dict[str, Any]], connections: dict[str, Any] | None = None) -> Path:
        """A manifest with connection ``lake`` (this bucket) and ``wh`` (a DuckDB file), plus ``connections``."""
        doc = {
            "version": 1,
            "connections": {
                "lake": self.profile(),
                "wh": {"type": "duckdb", "path": "wh.duckdb"},
                **(connections or {}),
            },
            "processes": processes,
        }
        path = self.folder / "m.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path


@pytest.fixture()
def bucket(moto_server: MotoServer, tmp_path: Path) -> Bucket:
    """An empty bucket for one test."""
    return Bucket(moto_server, moto_server.new_bucket(), tmp_path)
