"""A camera URL's password never leaves the agent: not in /api/status (recording cameras,
engagement.source_error, the errors ring), not in the logs, not in bus events, not in
recording.json or the catalog - although PyAV's error messages quote the URL whole.
Config problems that quote a URL mask its password too."""

from __future__ import annotations

import json
import logging

import aiohttp
import msgspec
import pytest

from agent.config import ConfigError, from_dict
from tests.conftest import free_port
from tests.recording_helpers import wait_for

SECRET = "Sup3rSecretPw"


def _url() -> str:
    # nothing listens there: every open fails with "Connection refused" quoting the URL
    return f"rtsp://bob:{SECRET}@127.0.0.1:{free_port()}/stream1"


async def test_camera_password_is_never_shown(make_config, run_agent, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = make_config(
        cameras=[{"id": "cam0", "role": "students", "url": _url(),
                  "connect_timeout_s": 2.0, "read_timeout_s": 2.0}],
        recording={"probe_interval_s": 1.0, "reconnect_max_s": 1.0},
        engagement={"enabled": True, "active": "always", "hand_raise": False,
                    "detect_width": 0, "analysis_fps": 2.0},
    )
    events: list = []
    async with run_agent(cfg) as agent:
        agent.ctx.bus.add_listener(events.append)
        rec = agent.ctx.services["recording"]
        eng = agent.ctx.services["engagement"]
        await rec.start_recording(title="Secrets")
        s = rec.session
        await wait_for(lambda: s.m.gaps and s.m.cameras[0].reason, 30, "the capture failing")
        await wait_for(lambda: eng.status()["source_error"], 30, "the engagement source error")
        async with aiohttp.ClientSession(headers={"X-Requested-With": "test"}) as http:
            status = await (await http.get(f"{agent.web_url}/api/status")).text()
            done = await (await http.post(f"{agent.web_url}/api/recording/stop")).json()
            listed = await (await http.get(f"{agent.web_url}/api/recordings")).text()
            status_after = await (await http.get(f"{agent.web_url}/api/status")).text()
    st = json.loads(status)
    # the failures are there to be seen, only without the password
    assert "bob:***@127.0.0.1" in st["engagement"]["source_error"], st["engagement"]
    assert "refused" in st["engagement"]["source_error"].lower()
    [cam] = st["recording"]["cameras"]
    assert cam["status"] in ("offline", "fault") and cam["reason"]
    assert done["state"] == "failed"
    manifest = (agent.ctx.config.data_dir / "recordings").glob("*/*/recording.json")
    texts = {
        "status": status, "status after": status_after, "recordings": listed,
        "stop answer": json.dumps(done), "logs": caplog.text,
        "events": "\n".join(msgspec.json.encode(e).decode() for e in events),
        "manifest": "\n".join(p.read_text() for p in manifest),
    }
    assert "refused" in texts["logs"].lower()  # the failures were logged ...
    assert texts["events"] and texts["manifest"]
    for where, text in texts.items():
        assert SECRET not in text, f"camera password in {where}"


@pytest.mark.parametrize("data", [
    {"mqtt": {"url": f"mqtt://agent:{SECRET}@broker:notaport"}},
    {"mqtt": {"url": f"ftp://agent:{SECRET}@broker/"}},
    {"cameras": {"id": "c", "url": f"rtsp://bob:{SECRET}@cam/x"}},  # not a list: quoted
    {"cameras": [{"id": "c", "url": "/dev/video0"}],
     "recording": {"upload": {"url": f"ftp://u:{SECRET}@files/x"}}},
])
def test_config_problems_mask_passwords(data) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert "***" in str(e.value), str(e.value)
    assert SECRET not in str(e.value) and all(SECRET not in p for p in e.value.problems)
