"""A real S3-compatible server process for the upload tests: moto's standalone server
(``moto_server``, PyPI ``moto[server]``, a test extra) on a free loopback port. It keeps its
state in memory only, so ``kill()`` + ``start()`` is a server that lost everything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, wait_port
from tests.helpers import process

ACCESS_KEY = "district-access"
SECRET_KEY = "district-secret-key"
BUCKET = "recordings"


def moto_exe() -> str | None:
    here = Path(sys.executable).with_name("moto_server")
    if here.exists():
        return str(here)
    local = Path(__file__).resolve().parents[1] / ".work" / "moto" / "bin" / "moto_server"
    return str(local) if local.exists() else shutil.which("moto_server")


class S3Server:
    def __init__(self, workdir: Path) -> None:
        exe = moto_exe()
        if exe is None:
            pytest.fail("moto_server is not installed (scripts/setup.sh --tests installs it)")
        self.exe = exe
        self.port = free_port()
        self.log = workdir / "moto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, bucket: str | None = BUCKET) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([self.exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=log, stderr=log)
        wait_port(self.port, timeout=30)
        if bucket:
            self.client().create_bucket(Bucket=bucket)

    def kill(self) -> None:
        process.kill(self.proc)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def objects(self, bucket: str = BUCKET) -> dict[str, bytes]:
        c = self.client()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {k: c.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def upload_config(server: S3Server, tmp: Path, **extra: Any) -> dict[str, Any]:
    """The ``recording.upload`` section for this server, credentials in files."""
    (tmp / "s3.access").write_text(ACCESS_KEY + "\n")
    (tmp / "s3.secret").write_text(SECRET_KEY + "\n")
    return {"protocol": "s3", "url": server.url, "bucket": BUCKET, "addressing_style": "path",
            "access_key_file": str(tmp / "s3.access"),
            "secret_key_file": str(tmp / "s3.secret"), **extra}


@pytest.fixture(name="s3_server")
def s3_server_fixture(tmp_path: Path) -> Iterator[S3Server]:
    """A started moto server with the bucket ``recordings``; always killed at teardown."""
    d = tmp_path / "moto"
    d.mkdir()
    server = S3Server(d)
    try:
        server.start()
        yield server
    finally:
        server.kill()
