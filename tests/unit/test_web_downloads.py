"""Recording downloads serve files from inside the recordings directory only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.config import from_dict
from agent.runtime.agent import make_context
from agent.web.app import build_app
from agent.web.downloads import recordings_dir, safe_path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "recordings"
    seg = root / "2026-03-02" / "L1" / "teacher"
    seg.mkdir(parents=True)
    (seg / "seg-0001.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"x" * 1000)
    (seg.parent / "recording.json").write_text('{"lesson_id": "L1"}')
    (root / "catalog.sqlite").write_bytes(b"SQLite format 3\x00")
    (root / ".hidden.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.mp4", seg / "link.mp4")
    return root


def test_safe_path(tree: Path) -> None:
    ok = safe_path(tree, "2026-03-02/L1/teacher/seg-0001.mp4")
    assert ok is not None and ok.name == "seg-0001.mp4"
    assert safe_path(tree, "2026-03-02/L1/recording.json") is not None
    for bad in [
        "../secret.mp4", "2026-03-02/../../secret.mp4", "/etc/passwd", "2026-03-02//L1",
        "2026-03-02/L1/teacher/link.mp4",  # symlink pointing outside
        "catalog.sqlite",  # not a media or metadata file
        ".hidden.mp4", "2026-03-02/L1/teacher", "nope.mp4", "a\x00b.mp4", "..\\secret.mp4", "",
    ]:
        assert safe_path(tree, bad) is None, bad


def test_recordings_dir_follows_config(tmp_path: Path) -> None:
    cfg = from_dict({"storage": {"data_dir": str(tmp_path)}})
    assert recordings_dir(make_context(cfg)) == tmp_path / "recordings"
    cfg = from_dict({"storage": {"data_dir": str(tmp_path)}, "recording": {"dir": "/srv/rec"}})
    assert recordings_dir(make_context(cfg)) == Path("/srv/rec")


async def test_download_over_http(tree: Path) -> None:
    cfg = from_dict({"storage": {"data_dir": str(tree.parent)}})
    client = TestClient(TestServer(build_app(make_context(cfg)), host="127.0.0.1"))
    await client.start_server()
    try:
        r = await client.get("/recordings/2026-03-02/L1/teacher/seg-0001.mp4")
        assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
        assert len(await r.read()) == 1012
        r = await client.get("/recordings/2026-03-02/L1/teacher/seg-0001.mp4",
                             headers={"Range": "bytes=0-9"})
        assert r.status == 206 and len(await r.read()) == 10
        for bad in ["/recordings/..%2Fsecret.mp4", "/recordings/%2e%2e/secret.mp4",
                    "/recordings/2026-03-02/L1/teacher/link.mp4", "/recordings/catalog.sqlite",
                    "/recordings/2026-03-02/L1/teacher/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.mp4"]:
            r = await client.get(bad)
            assert r.status == 404, bad
            assert b"secret" not in await r.read()
    finally:
        await client.close()
