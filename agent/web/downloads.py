"""Recording downloads: ``GET /recordings/{path}`` serves one file from the recordings dir.

``path`` is relative to the recordings directory, as the recording catalog lists it
(``{date}/{lesson_id}/{camera}/{segment}.mp4`` or ``.../recording.json``). The resolved
file must stay inside that directory (no ``..``, no absolute paths, no symlink out), be a
regular file and have a media or metadata suffix; anything else is refused and counted.
Range requests work (aiohttp FileResponse), so players can seek.
"""

# ctx.service(Protocol) looks services up by their protocol in agent/interfaces.py; mypy
# only lets concrete classes stand for type[T] (python/mypy#4717)
# mypy: disable-error-code="type-abstract"

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.interfaces import RecordingFiles
from agent.runtime.service import AgentContext

ALLOWED_SUFFIXES = frozenset(
    {".mp4", ".m4s", ".m4a", ".mkv", ".ts", ".m3u8", ".json", ".jpg", ".png", ".vtt", ".aac"}
)
_CONTENT_TYPES = {".m4s": "video/iso.segment", ".m3u8": "application/vnd.apple.mpegurl"}


def recordings_dir(ctx: AgentContext) -> Path:
    """Where recordings live: the recorder's own answer when the room records, else the
    ``recording.dir`` key, else ``{data_dir}/recordings`` (the layout the design fixes)."""
    if (rec := ctx.service(RecordingFiles)) is not None:
        return rec.recordings_dir
    d = ctx.config.recording.dir
    if d:
        return Path(d) if Path(d).is_absolute() else ctx.config.data_dir / d
    return ctx.config.data_dir / "recordings"


def safe_path(root: Path, rel: str) -> Path | None:
    """The file ``rel`` names inside ``root``, or None if it would leave it."""
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    if target.suffix.lower() not in ALLOWED_SUFFIXES:
        return None
    return target


async def download(request: web.Request) -> web.StreamResponse:
    from agent.web.app import CTX

    ctx = request.app[CTX]
    rel = request.match_info["path"]
    target = safe_path(recordings_dir(ctx), rel)
    if target is None:
        ctx.metrics.counter(
            "classroom_web_download_refused_total",
            "Recording downloads refused (missing file, traversal, wrong type)",
        ).inc()
        raise web.HTTPNotFound(text="no such recording file")
    headers = {"X-Content-Type-Options": "nosniff"}
    ctype = _CONTENT_TYPES.get(target.suffix.lower())
    if ctype:
        headers["Content-Type"] = ctype
    return web.FileResponse(target, headers=headers)


def setup(app: web.Application, ctx: AgentContext) -> None:
    app.router.add_get("/recordings/{path:.+}", download)
