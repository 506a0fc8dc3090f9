"""The demo classroom's camera: a looping generated H.264 clip plus a VISCA-over-IP PTZ
emulator whose preset is recalled when a recording starts. A demo ``Part`` (see
agent/demo.py): ``camera_part`` adds the ``cameras`` config and runs the emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from drivers.emulators.camera import ensure_demo_clip
from drivers.emulators.visca import UdpViscaEmulator


@contextlib.asynccontextmanager
async def camera_part(data: dict[str, Any], work: Path,
                      ready: asyncio.Future[Any]) -> AsyncIterator[None]:
    clip = await asyncio.to_thread(ensure_demo_clip, work / "camera")
    async with UdpViscaEmulator() as ptz:
        if not data.get("cameras"):
            data["cameras"] = [{
                "id": "teacher", "role": "teacher", "url": str(clip), "loop": True,
                "ptz": {"protocol": "visca-udp", "address": f"127.0.0.1:{ptz.port}",
                        "preset": 1},
            }]
        rec = data.setdefault("recording", {})
        rec.setdefault("segment_s", 60.0)
        yield
