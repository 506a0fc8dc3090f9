"""Who starts a live lesson: MQTT commands over a real mosquitto (validated, answered,
``events/live`` published without the stream key), HTTP with the recording's auth and CSRF
rules (409 already_live / not_live), and the CLI against a running agent process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from agent.uplink.envelope import decode
from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port
from tests.helpers.servers import running
from tests.integration.test_uplink_broker import ROOT, fast_mqtt, subscriber
from tests.recording_helpers import RtspServer, wait_for
from tests.stream_servers import NginxRtmp, have_nginx_rtmp

pytestmark = pytest.mark.skipif(not have_nginx_rtmp(), reason="nginx-rtmp not installed")


@pytest.fixture
def rtsp():
    with running(RtspServer(width=320, height=240, fps=25, gop=25)) as server:
        yield server


@pytest.fixture
def nginx(tmp_path):
    with running(NginxRtmp(tmp_path / "nginx")) as server:
        yield server


async def collect(client, until, timeout: float = 30.0) -> list:
    """Messages until ``until(got)``; what came so far in the assertion otherwise."""
    got: list = []

    async def loop() -> None:
        async for m in client.messages:
            got.append(m)
            if until(got):
                return

    try:
        async with asyncio.timeout(timeout):
            await loop()
    except TimeoutError:
        raise AssertionError([decode(m.payload).data for m in got]) from None
    return got


async def _post(url: str, headers: dict[str, str] | None = None, body: bytes = b"{}"
                ) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(
            url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    ) as r:
        return r.status, json.loads(await r.read() or b"{}")


async def test_mqtt_and_http_control(mosquitto, make_config, run_agent, rtsp, nginx) -> None:
    cfg = make_config(
        mqtt=fast_mqtt(mosquitto.url),
        cameras=[{"id": "teacher", "url": rtsp.url, "read_timeout_s": 2.0}],
        live={"url": nginx.url("the-key")},
    )
    async with run_agent(cfg) as agent:
        up = agent.ctx.services["uplink"]
        live = agent.ctx.services["live"]
        await wait_for(lambda: up.status()["connected"], 20, "uplink")
        async with subscriber(mosquitto.port, f"{ROOT}/cmd/live/+/reply",
                              f"{ROOT}/events/live") as c:
            await c.publish(f"{ROOT}/cmd/live/start", b'{"id": "m1"}', qos=1)
            await c.publish(f"{ROOT}/cmd/live/start", b'{"id": "m2"}', qos=1)
            await c.publish(f"{ROOT}/cmd/live/stop", b'{"id": "m3", "args": {"key": 1}}', qos=1)
            msgs = await collect(c, lambda g: len(g) >= 4, timeout=30)
            await wait_for(lambda: live.status()["state"] == "live", 30, "live")
            await c.publish(f"{ROOT}/cmd/live/stop", b'{"id": "m4"}', qos=1)
            await c.publish(f"{ROOT}/cmd/live/stop", b'{"id": "m5"}', qos=1)
            msgs += await collect(c, lambda g: len(g) >= 3, timeout=30)
        replies = {}
        events = []
        for m in msgs:
            assert b"the-key" not in m.payload
            e = decode(m.payload)
            if e.type == "cmd_reply":
                replies[e.data["id"]] = e.data
            else:
                assert e.type == "live"
                events.append(e.data)
        assert replies["m1"]["ok"] and replies["m1"]["result"]["url_host"] == (
            f"127.0.0.1:{nginx.port}")
        assert replies["m2"]["error"]["code"] == "already_live"
        assert replies["m3"]["error"]["code"] == "bad_args"
        assert replies["m4"]["ok"] and replies["m5"]["error"]["code"] == "not_live"
        assert [e["action"] for e in events] == ["started", "stopped"]
        assert events[0]["trigger"] == "mqtt" and events[0]["protocol"] == "rtmp"

        # HTTP: the recording's rules (CSRF header, 409 refusals)
        base = agent.web_url
        status, doc = await _post(base + "/api/live/start")
        assert status == 403 and doc["error"]["code"] == "csrf"
        hdr = {"X-Requested-With": "test"}
        status, doc = await _post(base + "/api/live/start", hdr)
        assert status == 200 and doc["live_id"]
        status, doc = await _post(base + "/api/live/start", hdr)
        assert status == 409 and doc["error"]["code"] == "already_live"
        status, doc = await _post(base + "/api/live/start", hdr, b'{"title": 1}')
        assert status == 400 and doc["error"]["code"] == "bad_args"
        status, doc = await _post(base + "/api/live/stop", hdr)
        assert status == 200 and doc["state"] == "stopped"
        status, doc = await _post(base + "/api/live/stop", hdr)
        assert status == 409 and doc["error"]["code"] == "not_live"
        text = agent.ctx.metrics.render().decode()
    assert 'classroom_live_refused_total{code="not_live"} 2.0' in text
    assert 'classroom_live_sessions_total{outcome="stopped"} 2.0' in text


async def test_not_configured_is_a_clear_refusal(make_config, run_agent, rtsp) -> None:
    cfg = make_config(cameras=[{"id": "teacher", "url": rtsp.url}])
    async with run_agent(cfg) as agent:
        status, doc = await _post(agent.web_url + "/api/live/start", {"X-Requested-With": "test"})
        assert status == 409 and doc["error"]["code"] == "not_configured"
        assert agent.ctx.services["recording"].session is None  # nothing started


def test_cli_live_start_and_stop(tmp_path, rtsp, nginx) -> None:
    port = free_port()
    url_file = tmp_path / "live.url"
    url_file.write_text(nginx.url("from-a-file") + "\n")
    cfg = write_toml(tmp_path / "a.toml", {
        "storage": {"data_dir": str(tmp_path / "d")},
        "web": {"listen": f"127.0.0.1:{port}"},
        "cameras": [{"id": "teacher", "url": rtsp.url}],
        "live": {"url_file": str(url_file)},
    })

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args, "-c", str(cfg)],
                              capture_output=True, text=True, timeout=60)

    with AgentProcess(cfg) as agent:
        agent.wait_http(f"http://127.0.0.1:{port}/healthz")
        r = cli("live", "start")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"127.0.0.1:{nginx.port}" in r.stdout and "from-a-file" not in r.stdout
        r = cli("live", "start")
        assert r.returncode == 1 and "already_live" in r.stdout
        r = cli("live", "stop")
        assert r.returncode == 0, r.stdout + r.stderr
        r = cli("live", "stop")
        assert r.returncode == 1 and "not_live" in r.stdout
