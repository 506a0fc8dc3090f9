"""Upload of real recordings by the running agent: to a real S3-compatible server process
(moto_server) with the school/room key prefix; the server killed (a clear failure, files
kept, retried); a part damaged on the way (checksum error, nothing deleted); and plain
HTTP PUT of whole files whose size is verified before delete_after_upload deletes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from drivers.emulators.camera import ensure_demo_clip
from tests.recording_helpers import wait_for
from tests.s3_server import S3Server, s3_server_fixture, upload_config  # noqa: F401


def metric(agent: Any, name: str, **labels: str) -> float:
    return agent.ctx.metrics.registry.get_sample_value(name, labels) or 0.0


async def record(agent: Any, segments: int = 2) -> tuple[Any, dict, dict[str, bytes]]:
    """One short recording; returns the service, its outcome and its files' bytes."""
    svc = agent.ctx.services["recording"]
    await svc.start_recording(title="Upload me", trigger="test")
    await wait_for(lambda: len(svc.session.m.cameras[0].segments) >= segments, 30,
                   "segments")
    done = await svc.stop_recording()
    local = Path(done["dir"])
    files = {f.relative_to(local).as_posix(): f.read_bytes()
             for f in local.rglob("*") if f.is_file() and not f.name.startswith(".")}
    return svc, done, files


async def upload_state(svc: Any, want: str, timeout: float = 60.0) -> dict:
    up: dict = {}
    for _ in range(int(timeout * 10)):
        up = (await svc.recordings(include_deleted=True))[0]["upload"]
        if up["state"] == want:
            return up
        await asyncio.sleep(0.1)
    raise AssertionError(f"upload never became {want}: {up}")


def camera_config(tmp_path: Path) -> list[dict]:
    clip = ensure_demo_clip(tmp_path / "clips")
    return [{"id": "cam", "url": str(clip), "loop": True}]


async def test_s3_upload_keys_start_with_school_and_room(make_config, run_agent, tmp_path,
                                                         s3_server: S3Server) -> None:
    cfg = make_config(
        cameras=camera_config(tmp_path),
        recording={"segment_s": 1.0, "upload": upload_config(
            s3_server, tmp_path, prefix="district", retry_min_s=0.2, retry_max_s=1.0)},
    )
    async with run_agent(cfg) as agent:
        svc, done, files = await record(agent)
        up = await upload_state(svc, "uploaded")
        assert up["bytes"] == sum(len(b) for b in files.values())
        status = svc.status()["upload"]
        assert status["protocol"] == "s3" and "recordings" in status["target"]
        assert metric(agent, "classroom_recording_upload_bytes_total") >= up["bytes"]
    rel_dir = "/".join(Path(done["dir"]).parts[-2:])  # {date}/{lesson_dir}
    objects = s3_server.objects()
    prefix = f"district/test-school/r1/{rel_dir}/"
    assert sorted(objects) == sorted(prefix + f for f in files)
    for name, data in files.items():
        assert objects[prefix + name] == data, name
    assert Path(done["dir"]).is_dir()  # delete_after_upload is off


async def test_s3_server_killed_upload_fails_clearly_and_is_retried(
        make_config, run_agent, tmp_path, s3_server: S3Server) -> None:
    cfg = make_config(
        cameras=camera_config(tmp_path),
        recording={"segment_s": 1.0, "upload": upload_config(
            s3_server, tmp_path, retry_min_s=0.3, retry_max_s=1.0,
            delete_after_upload=True)},
    )
    async with run_agent(cfg) as agent:
        s3_server.kill()
        svc, done, files = await record(agent)
        up = await upload_state(svc, "failed")
        assert up["reason"].startswith("network:"), up
        assert Path(done["dir"]).is_dir()  # nothing deleted
        assert metric(agent, "classroom_recording_upload_errors_total", kind="network") >= 1
        assert svc.status()["upload"]["last_error"]["kind"] == "network"
        await asyncio.sleep(1.5)  # it keeps failing while the server is away ...
        assert Path(done["dir"]).is_dir()
        s3_server.start()  # ... and succeeds by itself once it is back
        up = await upload_state(svc, "uploaded")
        await wait_for(lambda: not Path(done["dir"]).exists(), 20, "local copy deleted")
    # {school}/{room}/{date}/{lesson_dir}/ then the recording's own paths
    assert {k.split("/", 4)[-1]: v for k, v in s3_server.objects().items()} == files


class Proxy:
    """TCP proxy to the S3 server that can flip one body byte of the next
    ``corrupt_left`` UploadParts, or (``stall``) hold every request for recording.json
    without an answer, as a network that died mid-upload does."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.corrupt_left = 0
        self.stall = False
        self.stalled = 0
        self.release = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.close()
        for w in self.writers:
            w.close()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_w}
        phase = [0]  # 0 look for an UploadPart, 1 for its header end, 2 flip, 3 done

        async def c2s() -> None:
            while data := await reader.read(65536):
                if self.stall and re.search(rb"(?m)^[A-Z]+ \S*recording\.json\S* HTTP/", data):
                    self.stalled += 1
                    await self.release.wait()
                    return
                buf, i = bytearray(data), 0
                if phase[0] == 0 and self.corrupt_left and (j := buf.find(b"partNumber=")) >= 0:
                    phase[0], i = 1, j
                if phase[0] == 1 and (k := buf.find(b"\r\n\r\n", i)) >= 0:
                    phase[0], i = 2, k + 4
                if phase[0] == 2 and i < len(buf):
                    buf[i] ^= 0xFF
                    phase[0] = 3
                    self.corrupt_left -= 1
                up_w.write(bytes(buf))
                await up_w.drain()
            up_w.close()

        async def s2c() -> None:
            while data := await up_r.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(c2s(), s2c())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            up_w.close()


async def test_s3_damaged_part_is_a_checksum_error_and_nothing_is_deleted(
        make_config, run_agent, tmp_path, s3_server: S3Server) -> None:
    proxy = Proxy(s3_server.port)
    proxy.corrupt_left = 1
    await proxy.start()
    section = upload_config(s3_server, tmp_path, retry_min_s=0.3, retry_max_s=1.0,
                            delete_after_upload=True)
    section["url"] = f"http://127.0.0.1:{proxy.port}"
    cfg = make_config(cameras=camera_config(tmp_path),
                      recording={"segment_s": 1.0, "upload": section})
    try:
        async with run_agent(cfg) as agent:
            svc, done, files = await record(agent)
            up = await upload_state(svc, "failed")
            assert up["reason"].startswith("checksum:") and "damaged" in up["reason"], up
            assert Path(done["dir"]).is_dir()
            for name, data in files.items():  # every local file still there, unchanged
                assert (Path(done["dir"]) / name).read_bytes() == data
            assert metric(agent, "classroom_recording_upload_errors_total",
                          kind="checksum") == 1
            assert metric(agent, "classroom_recording_uploads_total", outcome="failed") == 1
            # the next attempt (no damage now) sends the part again, verifies, deletes
            await upload_state(svc, "uploaded")
            await wait_for(lambda: not Path(done["dir"]).exists(), 20, "local copy deleted")
    finally:
        await proxy.stop()
    assert proxy.corrupt_left == 0
    stored = {k.split("/", 4)[-1]: v for k, v in s3_server.objects().items()}
    assert stored == files


class PutServer:
    """A plain HTTP server storing whole PUTs; the first video PUT keeps only the tail of
    the body and still answers 201 (as a server ignoring Content-Range would)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.auth: set[str | None] = set()
        self.ranges: list[str] = []
        self.digests: list[str] = []
        self.truncated = 0

    def _path(self, request: web.Request) -> Path:
        return self.root / request.match_info["path"]

    async def head(self, request: web.Request) -> web.Response:
        p = self._path(request)
        if not p.exists():
            return web.Response(status=404)
        return web.Response(status=200, headers={"Content-Length": str(p.stat().st_size)})

    async def put(self, request: web.Request) -> web.Response:
        self.auth.add(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)
        if "Content-Range" in request.headers:
            self.ranges.append(request.headers["Content-Range"])
        self.digests.append(request.headers.get("Repr-Digest", ""))
        body = await request.read()
        p = self._path(request)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not self.truncated and p.suffix == ".mp4":
            self.truncated += 1
            body = body[len(body) // 2:]
        p.write_bytes(body)
        return web.Response(status=201)


async def test_http_put_whole_files_size_verified_before_delete(make_config, run_agent,
                                                                tmp_path) -> None:
    srv = PutServer(tmp_path / "server")
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("HEAD", "/up/{path:.+}", srv.head)
    app.router.add_put("/up/{path:.+}", srv.put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = make_config(
        cameras=camera_config(tmp_path),
        recording={"segment_s": 1.0, "upload": {
            "protocol": "http", "url": f"http://127.0.0.1:{port}/up",
            "token_file": str(token), "retry_min_s": 0.3, "retry_max_s": 1.0,
            "delete_after_upload": True}},
    )
    try:
        async with run_agent(cfg) as agent:
            svc, done, files = await record(agent)
            up = await upload_state(svc, "failed")
            assert up["reason"].startswith("size:"), up
            assert Path(done["dir"]).is_dir()  # the truncated copy deleted nothing
            assert metric(agent, "classroom_recording_upload_errors_total", kind="size") == 1
            await upload_state(svc, "uploaded")
            await wait_for(lambda: not Path(done["dir"]).exists(), 20, "local copy deleted")
    finally:
        await runner.cleanup()
    assert srv.truncated == 1 and srv.ranges == [], "whole files only, never Content-Range"
    assert srv.auth == {"Bearer s3cret"}
    rel_dir = "/".join(Path(done["dir"]).parts[-2:])
    base = srv.root / "test-school" / "r1" / rel_dir
    for name, data in files.items():
        assert (base / name).read_bytes() == data, name
    want = {hashlib.sha256(d).digest() for d in files.values()}
    sent = {base64.b64decode(d.split(":")[1]) for d in srv.digests}
    assert want <= sent


async def test_restart_with_a_lost_catalog_uploads_again_without_resending(
        make_config, run_agent, tmp_path, s3_server: S3Server) -> None:
    """The catalog lost between two runs: the recording is indexed again from its
    recording.json and queued; the server's verified copies are recognised, not re-sent."""
    cfg = make_config(
        cameras=camera_config(tmp_path),
        recording={"segment_s": 1.0, "upload": upload_config(
            s3_server, tmp_path, retry_min_s=0.2, retry_max_s=1.0)},
    )
    async with run_agent(cfg) as agent:
        svc, done, files = await record(agent)
        await upload_state(svc, "uploaded")
    catalog = Path(done["dir"]).parents[1] / "catalog.sqlite"
    for f in catalog.parent.glob("catalog.sqlite*"):
        f.unlink()
    (Path(done["dir"]) / ".upload-state.json").unlink()  # and the upload state with it
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["recording"]
        await upload_state(svc, "uploaded")
        assert metric(agent, "classroom_recording_upload_units_total",
                      what="files_skipped") == len(files)
        assert metric(agent, "classroom_recording_upload_bytes_total") == 0


async def test_agent_stopped_mid_upload_exits_and_the_next_start_resumes(
        make_config, run_agent, tmp_path, s3_server: S3Server) -> None:
    """The network dies while recording.json is being sent (no answer, ever) and the agent
    is stopped: it exits anyway (the hung request does not hold it), and the next start
    sends only what was not verified yet."""
    proxy = Proxy(s3_server.port)
    proxy.stall = True
    await proxy.start()
    section = upload_config(s3_server, tmp_path, retry_min_s=0.2, retry_max_s=1.0,
                            timeout_s=120.0)
    section["url"] = f"http://127.0.0.1:{proxy.port}"
    cfg = make_config(cameras=camera_config(tmp_path),
                      recording={"segment_s": 1.0, "upload": section})
    try:
        async with run_agent(cfg) as agent:
            svc, done, files = await record(agent)
            await wait_for(lambda: proxy.stalled, 30, "the upload reached recording.json")
            assert svc.status()["upload"]["active"] == done["recording_id"]
            segments = len(files) - 1
            assert metric(agent, "classroom_recording_upload_units_total",
                          what="parts_sent") == segments
        # stopped (run_agent waits for the agent to end) with the request still hanging
        proxy.stall = False
        async with run_agent(cfg) as agent:
            svc = agent.ctx.services["recording"]
            up = await upload_state(svc, "uploaded")
            assert up["bytes"] == sum(len(b) for b in files.values())
            assert metric(agent, "classroom_recording_upload_units_total",
                          what="files_skipped") == segments
            assert metric(agent, "classroom_recording_upload_units_total",
                          what="parts_sent") == 1
    finally:
        await proxy.stop()
    assert {k.split("/", 4)[-1]: v for k, v in s3_server.objects().items()} == files
