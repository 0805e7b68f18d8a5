"""An S3-compatible server on loopback for the object-store lake's tests: moto in server mode.

``s3_server`` (session scope) starts moto's threaded server on a free loopback port and makes
one bucket; each test takes a fresh prefix in it, so tests never see each other's objects.
``use_s3`` points a test's environment at the server: fake credentials (moto accepts any) and
``QUANT_ASSETS_S3_ENDPOINT_URL``, the way a deployment points at MinIO.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import pytest

BUCKET = "qa-lake-tests"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def fresh_prefix(self) -> str:
        """``s3://<bucket>/<random>``: a folder of the test's own."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}"

    def client(self):
        """A boto3 client for looking at the server behind the lake's back."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(f"http://{host}:{port}", BUCKET)
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


@pytest.fixture
def use_s3(s3_server, monkeypatch) -> S3Server:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QUANT_ASSETS_S3_ENDPOINT_URL", s3_server.endpoint)
    return s3_server


def object_keys(s3: S3Server, url: str) -> list[str]:
    """Every key under ``url`` (``s3://bucket/prefix``), straight from the server."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
