"""Upload: PUT with the auth header, the connection dropped mid-file, automatic retry
that resumes (HEAD + Content-Range) instead of starting over."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from drivers.emulators.camera import ensure_demo_clip
from tests.recording_helpers import wait_for


class UploadServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.auth: list[str | None] = []
        self.resumed: list[str] = []
        self.dropped = 0

    def _path(self, request: web.Request) -> Path:
        return self.root / request.match_info["path"]

    async def head(self, request: web.Request) -> web.Response:
        p = self._path(request)
        if not p.exists():
            return web.Response(status=404)
        return web.Response(status=200, headers={"Content-Length": str(p.stat().st_size)})

    async def put(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)
        p = self._path(request)
        p.parent.mkdir(parents=True, exist_ok=True)
        rng = request.headers.get("Content-Range")
        offset = 0
        if rng:
            offset = int(rng.split()[1].split("-")[0])
            self.resumed.append(request.match_info["path"])
            assert p.stat().st_size == offset
        with open(p, "r+b" if offset else "wb") as f:
            f.seek(offset)
            got = 0
            async for chunk in request.content.iter_chunked(4096):
                f.write(chunk)
                got += len(chunk)
                if self.dropped == 0 and p.suffix == ".mp4" and got > 2000:
                    self.dropped += 1  # the network goes away mid-file
                    f.flush()
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
        return web.Response(status=201)


async def test_upload_retries_and_resumes(make_config, run_agent, tmp_path) -> None:
    srv = UploadServer(tmp_path / "server")
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
    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(
        cameras=[{"id": "cam", "url": str(clip), "loop": True}],
        recording={"segment_s": 1.0, "upload": {
            "url": f"http://127.0.0.1:{port}/up", "token_file": str(token),
            "retry_min_s": 0.2, "retry_max_s": 1.0}},
    )
    try:
        async with run_agent(cfg) as agent:
            svc = agent.ctx.services["recording"]
            await svc.start_recording(title="Upload me", trigger="test")
            await wait_for(lambda: len(svc.session.m.cameras[0].segments) >= 2, 20, "segments")
            done = await svc.stop_recording()

            async def state() -> dict:
                return (await svc.recordings())[0]["upload"]

            for _ in range(200):
                up = await state()
                if up["state"] == "uploaded":
                    break
                await __import__("asyncio").sleep(0.1)
            assert up["state"] == "uploaded", up
            assert up["attempts"] >= 2
    finally:
        await runner.cleanup()
    assert srv.dropped == 1 and srv.resumed, "the second attempt resumed the cut file"
    assert set(srv.auth) == {"Bearer s3cret"}
    local = Path(done["dir"])
    rel = "/".join(local.parts[-2:])
    for f in local.rglob("*"):
        if f.is_file():
            remote = srv.root / rel / f.relative_to(local)
            assert remote.read_bytes() == f.read_bytes(), f
