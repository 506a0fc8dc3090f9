"""Keeping a real recording as a showcase lesson: HTTP, the MQTT command, the CLI, the
quality rule on what was recorded, undo on the same day only, clear refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import aiohttp

from agent.events import ShowcaseEvent
from drivers.emulators.camera import ensure_demo_clip
from tests.recording_helpers import wait_for

RULE = "finished and gap_s < 30 and all_cameras and minutes < 10"


async def test_showcase_marking_and_quality(make_config: Any, run_agent: Any,
                                            tmp_path: Any) -> None:
    clip = ensure_demo_clip(tmp_path / "clips")
    cams = [{"id": f"cam{i}", "role": role, "url": str(clip), "loop": True}
            for i, role in enumerate(["teacher", "students"])]
    cfg = make_config(cameras=cams, recording={"segment_s": 1.0, "quality_rule": RULE})
    events: list[ShowcaseEvent] = []
    async with run_agent(cfg) as agent:
        agent.ctx.bus.add_listener(
            lambda e: events.append(e) if isinstance(e, ShowcaseEvent) else None)
        svc = agent.ctx.services["recording"]
        url = agent.web_url
        async with aiohttp.ClientSession(headers={"X-Requested-With": "test"}) as http:

            async def record(body: dict[str, Any]) -> str:
                r = await http.post(f"{url}/api/recording/start", json=body)
                assert r.status == 200, await r.text()
                rid = (await r.json())["recording_id"]
                await wait_for(lambda: all(c.segments for c in svc.session.m.cameras), 30,
                               "a segment per camera")
                # still recording: it cannot be kept yet
                r = await http.post(f"{url}/api/recordings/{rid}/showcase")
                assert r.status == 409
                assert (await r.json())["error"]["code"] == "still_recording"
                r = await http.post(f"{url}/api/recording/stop")
                assert r.status == 200
                return rid

            a = await record({"title": "Fractions", "subject": "math"})
            r = await http.post(f"{url}/api/recordings/{a}/showcase")
            assert r.status == 200, await r.text()
            kept = await r.json()
            assert (kept["showcase"], kept["quality"], kept["changed"]) == (True, True, True)
            assert kept["undo_until"]
            r = await http.post(f"{url}/api/recordings/{a}/showcase")  # again: no change
            assert (await r.json())["changed"] is False

            # one camera of two recorded: a showcase, but not a quality recording
            b = await record({"subject": "math", "cameras": ["cam0"]})
            res = await agent.ctx.commands.dispatch("record/showcase", {"recording_id": b})
            assert res.ok and (res.result["showcase"], res.result["quality"]) == (True, False)
            res = await agent.ctx.commands.dispatch("record/showcase", {"recording": b})
            assert not res.ok and res.error["code"] == "bad_args"

            cat = {r["id"]: r for r in (await (await http.get(
                f"{url}/api/recordings")).json())["recordings"]}
            assert (cat[a]["showcase"], cat[a]["quality"]) == (True, True)
            assert (cat[b]["showcase"], cat[b]["quality"]) == (True, False)

            # the CLI takes the first one back (same day)
            out = await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "agent", "record", "showcase", a, "--undo", "--url", url],
                capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout)["showcase"] is False
            out = await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "agent", "record", "showcase", "--url", url],
                capture_output=True, text=True, timeout=60)
            assert out.returncode == 2 and "recording id" in out.stderr

            # recording.json (the record the catalog is rebuilt from) says so too
            [mb] = [m for m in tmp_path.glob("data/recordings/*/*/recording.json")
                    if json.loads(m.read_text())["recording_id"] == b]
            doc = json.loads(mb.read_text())
            assert (doc["showcase"], doc["quality"]) == (True, False) and doc["showcase_at"]

            # kept yesterday: too late to undo today
            yesterday = (agent.ctx.clock.now() - timedelta(days=1)).isoformat()
            await asyncio.to_thread(svc.catalog.update, b, showcase_at=yesterday)
            r = await http.delete(f"{url}/api/recordings/{b}/showcase")
            assert r.status == 409 and (await r.json())["error"]["code"] == "too_late"

            r = await http.post(f"{url}/api/recordings/rec-nope/showcase")
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "unknown_recording"
            r = await http.post(f"{url}/api/recordings/{a}/showcase",
                                headers={"X-Requested-With": ""})  # cross-site: refused
            assert r.status == 403
    assert [(e.recording_id, e.showcase, e.quality, e.trigger) for e in events] == [
        (a, True, True, "http"), (b, True, False, "mqtt"), (a, False, False, "cli")]
    assert all(e.rule == RULE and e.subject == "math" for e in events)
