"""Recording downloads: ``GET /recordings/{path}`` serves one file from the recordings dir.

``path`` is relative to the recordings directory, as the recording catalog lists it
(``{date}/{lesson_id}/{camera}/{segment}.mp4`` or ``.../recording.json``). The resolved
file must stay inside that directory (no ``..``, no absolute paths, no symlink out), be a
regular file and have a media or metadata suffix; anything else is refused and counted.
Range requests work (aiohttp FileResponse), so players can seek.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.runtime.service import AgentContext

ALLOWED_SUFFIXES = frozenset(
    {".mp4", ".m4s", ".m4a", ".mkv", ".ts", ".m3u8", ".json", ".jpg", ".png", ".vtt", ".aac"}
)
_CONTENT_TYPES = {".m4s": "video/iso.segment", ".m3u8": "application/vnd.apple.mpegurl"}


def recordings_dir(ctx: AgentContext) -> Path:
    """Where recordings live: the recording service's own answer when it has one, else
    its config key, else ``{data_dir}/recordings`` (the layout the design fixes)."""
    svc = ctx.services.get("recording")
    for attr in ("recordings_dir", "root", "base_dir"):
        v = getattr(svc, attr, None) if svc is not None else None
        if isinstance(v, str | Path) and str(v):
            return Path(v)
    sec = getattr(ctx.config, "recording", None)
    for attr in ("recordings_dir", "dir", "path"):
        v = getattr(sec, attr, None) if sec is not None else None
        if isinstance(v, str) and v:
            return Path(v) if Path(v).is_absolute() else ctx.config.data_dir / v
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
