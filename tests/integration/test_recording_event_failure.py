"""The recording service with the real Session: a capture event whose application fails
once (recording.json cannot be saved: disk full) is logged and counted, later events are
still applied, and ``record stop`` returns with the final state written - it used to wait
forever on a queue whose consumer had died, holding the start/stop lock.

Also: starting and stopping a recording does no filesystem call on the event loop (the
recording directory is made, and the catalog closed, in worker threads)."""

from __future__ import annotations

import asyncio
import errno
import json
import pathlib
import traceback
from pathlib import Path

from agent.recording.catalog import Catalog
from drivers.emulators.camera import ensure_demo_clip
from tests.recording_helpers import wait_for


def _cams(clip) -> list[dict]:
    return [{"id": "cam0", "role": "teacher", "url": str(clip), "loop": True}]


async def test_stop_after_a_failed_event(make_config, run_agent, tmp_path) -> None:
    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(cameras=_cams(clip), recording={"segment_s": 1.0})
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["recording"]
        await svc.start_recording(title="Disk full once")
        s = svc.session
        real_save = s.save
        failures: list[int] = []

        async def save_failing_once() -> None:
            if not failures:
                failures.append(1)
                raise OSError(errno.ENOSPC, "No space left on device")
            await real_save()

        s.save = save_failing_once
        # the first event after this fails; segments keep being added after it
        await wait_for(lambda: failures and len(s.m.cameras[0].segments) >= 3, 40,
                       "segments recorded after the failed event")
        assert s.event_errors == 1 and not svc._consumer.done()
        # a guard against the old hang, not a timing claim
        done = await asyncio.wait_for(svc.stop_recording(), 90)
        assert done["state"] == "finished", done
        assert svc.session is None and svc.status()["state"] == "idle"
        m = json.loads((Path(done["dir"]) / "recording.json").read_text())
        assert m["state"] == "finished" and m["ended"]
        files = sorted((Path(done["dir"]) / "cam0").glob("*.mp4"))
        assert [x["file"] for x in m["cameras"][0]["segments"]] == [f.name for f in files]
        errors = agent.ctx.metrics.registry.get_sample_value(
            "classroom_recording_event_errors_total", {"kind": "online"}) or 0
        errors += sum(agent.ctx.metrics.registry.get_sample_value(
            "classroom_recording_event_errors_total", {"kind": k}) or 0
            for k in ("segment_open", "segment_closed", "offline", "fault"))
        assert errors == 1
        # and the service takes the next recording
        again = await svc.start_recording(title="next")
        assert again["recording_id"] != done["recording_id"]
        await asyncio.wait_for(svc.stop_recording(), 90)


async def test_no_filesystem_calls_on_the_loop(make_config, run_agent, tmp_path,
                                               monkeypatch) -> None:
    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(cameras=_cams(clip), recording={"segment_s": 1.0})
    root = (tmp_path / "data" / "recordings").resolve()
    on_loop: list[str] = []

    def _loop_running() -> bool:
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    def watch(name: str, real):
        def wrapper(self, *a, **kw):
            p = pathlib.Path(self)
            if _loop_running() and (p == root or root in p.resolve().parents):
                on_loop.append(f"{name}({p}):\n" + "".join(traceback.format_stack(limit=6)))
            return real(self, *a, **kw)
        return wrapper

    monkeypatch.setattr(pathlib.Path, "mkdir", watch("mkdir", pathlib.Path.mkdir))
    monkeypatch.setattr(pathlib.Path, "exists", watch("exists", pathlib.Path.exists))
    real_close = Catalog.close

    def close(self) -> None:
        if _loop_running():
            on_loop.append("catalog.close")
        real_close(self)

    monkeypatch.setattr(Catalog, "close", close)
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["recording"]
        await svc.start_recording(title="one", lesson_id="math-1")
        await wait_for(lambda: svc.session.m.cameras[0].segments, 30, "a segment")
        await asyncio.wait_for(svc.stop_recording(), 90)
        # the same lesson again: its directory is taken, "math-1-2" is made
        await svc.start_recording(title="one", lesson_id="math-1")
        await asyncio.wait_for(svc.stop_recording(), 90)
    seen = list(on_loop)
    dirs = sorted(p.parent.name for p in root.glob("*/*/recording.json"))
    days = {p.parent.parent.name for p in root.glob("*/*/recording.json")}
    # dated folders: a run across midnight puts the second one, as "math-1", in the next day
    assert dirs == ["math-1", "math-1-2"] or (len(days) == 2 and dirs == ["math-1", "math-1"])
    assert seen == [], "\n".join(seen)


async def test_shutdown_settles_even_when_saving_hangs(make_config, run_agent,
                                                       tmp_path) -> None:
    """The worst case at SIGTERM: every recording.json write hangs (a stalled disk), so
    the supervisor's stop budget runs out inside ``_finish``. The manifest still ends
    ``partial`` with a reason, and the catalog row with it."""
    import sqlite3

    clip = ensure_demo_clip(tmp_path / "clips")
    cfg = make_config(cameras=_cams(clip), recording={"segment_s": 1.0})
    async with run_agent(cfg) as agent:
        svc = agent.ctx.services["recording"]
        svc.stop_timeout_s = 6.0  # the supervisor reads it per instance too
        started = await svc.start_recording(title="Stalled disk")
        s = svc.session
        await wait_for(lambda: s.m.cameras[0].segments, 30, "a segment")

        async def save_hangs() -> None:
            await asyncio.Event().wait()

        s.save = save_hangs
    m = json.loads((Path(started["dir"]) / "recording.json").read_text())
    assert m["state"] == "partial" and "stopped during the recording" in m["reason"], m
    assert m["ended"]
    db = sqlite3.connect(tmp_path / "data" / "recordings" / "catalog.sqlite")
    try:
        [(state,)] = db.execute("SELECT state FROM recordings WHERE id = ?",
                                (started["recording_id"],)).fetchall()
    finally:
        db.close()
    assert state == "partial"
