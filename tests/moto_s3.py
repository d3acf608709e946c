"""A local S3 for tests: moto's server on 127.0.0.1 (never the internet), importable by any test
(``from moto_s3 import moto_s3``), with the AWS settings in ``os.environ`` while it runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
               "AWS_ALLOW_HTTP": "true"}


@contextlib.contextmanager
def moto_s3(log_dir: Path, bucket: str) -> Iterator[tuple[Any, dict[str, str]]]:
    """Start moto's S3 server with ``bucket`` created, set the AWS environment, and yield
    ``(boto3 client, env)``; the environment is put back and the server stopped after. Skips the
    test with the reason when boto3 or moto's server is missing or the server does not start."""
    boto3 = pytest.importorskip("boto3")
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    log = log_dir / "moto.log"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS}
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    deadline = time.time() + 30
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.skip(f"moto_server did not start: {log.read_text()[-500:]}")
            time.sleep(0.2)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield client, env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)
