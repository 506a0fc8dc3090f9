"""The uplink against a real mosquitto: outages, crashes, Last Will, commands, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.events import DeviceFault, DeviceState
from agent.uplink.envelope import decode
from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port
from tests.helpers.mqtt import ROOT, collect, fast_mqtt, subscriber
from tests.helpers.wait import wait_for


async def test_outage_delivers_everything_once_in_order(
    mosquitto_factory, make_config, run_agent
) -> None:
    broker = mosquitto_factory(persistent=True)
    async with subscriber(broker.port, f"{ROOT}/events/#", f"{ROOT}/devices/#",
                          persistent_id="district"):
        pass  # session (and its subscription) now lives in the broker
    cfg = make_config(mqtt=fast_mqtt(broker.url))
    async with run_agent(cfg) as agent:
        up = agent.ctx.services["uplink"]
        await wait_for(lambda: up.status()["connected"])
        bus = agent.ctx.bus
        for i in range(20):
            await bus.publish(DeviceFault(device_id=f"p{i % 3}", kind="panel", status="fault",
                                          reason=f"before {i}"))
        await wait_for(lambda: up.outbox.depth == 0)
        broker.stop()  # outage (clean, so the broker keeps the district's queued session)
        await wait_for(lambda: not up.status()["connected"])
        for i in range(300):
            await bus.publish(DeviceFault(device_id=f"p{i % 3}", kind="panel", status="fault",
                                          reason=f"during {i}"))
        await bus.publish(DeviceState(device_id="p1", kind="panel", status="online",
                                      attrs={"power": "on"}))
        assert up.outbox.depth == 300  # durable, waiting
        broker.start()
        await wait_for(lambda: up.outbox.depth == 0, timeout=30)

    async with subscriber(broker.port, persistent_id="district") as sub:
        msgs = await collect(sub, lambda g: len({decode(m.payload).id for m in g
                                                if "events" in m.topic.value}) >= 320)
    envs = [decode(m.payload) for m in msgs if m.topic.value == f"{ROOT}/events/device"]
    unique = {e.id: e for e in envs}
    assert len(unique) == 320
    seqs = [e.seq for e in unique.values()]
    assert seqs == sorted(seqs) and seqs == list(range(seqs[0], seqs[0] + 320))
    reasons = [e.data["reason"] for e in unique.values()]
    assert reasons[:20] == [f"before {i}" for i in range(20)]
    assert reasons[20:] == [f"during {i}" for i in range(300)]
    e = next(iter(unique.values()))
    assert e.v == 1 and e.school == "test-school" and e.room == "r1" and e.type == "device_fault"


async def test_retained_state_and_birth_after_every_reconnect(
    mosquitto, make_config, run_agent
) -> None:
    cfg = make_config(mqtt=fast_mqtt(mosquitto.url))
    async with run_agent(cfg) as agent:
        up = agent.ctx.services["uplink"]
        await agent.ctx.bus.publish(DeviceState(device_id="cam1", kind="camera",
                                                status="online", attrs={"codec": "h264"}))
        await wait_for(lambda: up.status()["connected"])
        mosquitto.kill()  # a hard crash: the broker forgets all retained messages
        await wait_for(lambda: not up.status()["connected"])
        assert up.status()["last_error"]  # the outage is reported, not hidden
        mosquitto.start()
        await wait_for(lambda: up.status()["connected"] and up.status()["connects"] >= 2)
        assert agent.supervisor.restarts == {}, "a lost broker is not a service crash"
        async with subscriber(mosquitto.port, f"{ROOT}/status", f"{ROOT}/devices/+") as sub:
            msgs = await collect(sub, lambda g: len(g) >= 2, timeout=15)
    by_topic = {m.topic.value: (m, decode(m.payload)) for m in msgs}
    assert by_topic[f"{ROOT}/status"][1].data["state"] == "online"
    assert by_topic[f"{ROOT}/status"][0].retain
    dev = by_topic[f"{ROOT}/devices/cam1"][1]
    assert dev.data["status"] == "online" and dev.data["attrs"] == {"codec": "h264"}


async def test_commands_reply_with_correlation(mosquitto, make_config, run_agent) -> None:
    cfg = make_config(mqtt={**fast_mqtt(mosquitto.url), "max_command_bytes": 512})
    async with run_agent(cfg) as agent:
        up = agent.ctx.services["uplink"]
        await wait_for(lambda: up.status()["connected"])
        async with subscriber(mosquitto.port, f"{ROOT}/cmd/+/reply", "district/replies") as c:
            await c.publish(f"{ROOT}/cmd/ping", b'{"id": "c-1"}', qos=1)
            await c.publish(f"{ROOT}/cmd/ping", b"{oops", qos=1)
            await c.publish(f"{ROOT}/cmd/self-destruct", b"{}", qos=1)
            await c.publish(f"{ROOT}/cmd/ping", b"x" * 600, qos=1)
            await c.publish(f"{ROOT}/cmd/reload", b'{"id": "c-2", "args": {"restart": 3}}', qos=1)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "district/replies"
            props.CorrelationData = b"\x01corr"
            await c.publish(f"{ROOT}/cmd/ping", b'{"id": "c-3"}', qos=1, properties=props)
            forged = Properties(PacketTypes.PUBLISH)
            forged.ResponseTopic = f"{ROOT}/lessons"  # must not let a commander forge data
            await c.publish(f"{ROOT}/cmd/ping", b'{"id": "c-4"}', qos=1, properties=forged)
            msgs = await collect(c, lambda g: len(g) >= 7, timeout=15)
        text = agent.ctx.metrics.render().decode()
    replies = {}
    for m in msgs:
        e = decode(m.payload)
        assert e.type == "cmd_reply"
        replies.setdefault(e.data["id"], []).append((m, e.data))
    assert replies["c-1"][0][1]["ok"] and replies["c-1"][0][1]["result"]["pong"] is True
    assert replies["c-2"][0][1]["error"]["code"] == "bad_args"
    m3, d3 = replies["c-3"][0]
    assert m3.topic.value == "district/replies" and d3["ok"]
    assert m3.properties.CorrelationData == b"\x01corr"
    assert replies["c-4"][0][0].topic.value == f"{ROOT}/cmd/ping/reply"
    codes = sorted(d["error"]["code"] for _, d in replies[None])
    assert codes == ["bad_json", "too_large", "unknown_command"]
    assert 'classroom_command_errors_total{reason="bad_json"} 1.0' in text
    assert 'outcome="unknown_command"' in text


def _outbox_ids(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [msgspec.json.decode(p)["id"] for (p,) in
                c.execute("SELECT payload FROM messages ORDER BY id")]


async def test_sigkill_with_queue_then_restart_delivers_all(mosquitto_factory, tmp_path) -> None:
    broker = mosquitto_factory()
    broker.stop()  # the district is unreachable while data piles up
    data = tmp_path / "data"
    port = free_port()
    cfg = write_toml(tmp_path / "agent.toml", {
        "site": {"school": "test-school", "room": "r1"},
        "mqtt": fast_mqtt(broker.url),
        "storage": {"data_dir": str(data)},
        "web": {"listen": f"127.0.0.1:{port}"},
        "health": {"interval_s": 0.05},
    })
    status_url = f"http://127.0.0.1:{port}/api/status"
    with AgentProcess(cfg) as agent:
        agent.wait_http(status_url)
        for _ in range(200):
            if agent.wait_http(status_url)["uplink"]["outbox_depth"] >= 30:
                break
            await asyncio.sleep(0.1)
        agent.kill()  # SIGKILL: no chance to flush anything
    queued = _outbox_ids(data / "outbox.sqlite3")
    assert len(queued) >= 30
    broker.start()
    async with subscriber(broker.port, f"{ROOT}/health") as sub:
        with AgentProcess(cfg):
            got = await collect(sub, lambda g: set(queued) <= {decode(m.payload).id for m in g})
    ids = [decode(m.payload).id for m in got]
    assert set(queued) <= set(ids)
    assert [i for i in ids if i in set(queued)][: len(queued)] == queued  # FIFO after restart


async def test_last_will_on_sigkill_and_offline_on_sigterm(mosquitto, tmp_path) -> None:
    port = free_port()
    cfg = write_toml(tmp_path / "agent.toml", {
        "site": {"school": "test-school", "room": "r1"},
        "mqtt": fast_mqtt(mosquitto.url),
        "storage": {"data_dir": str(tmp_path / "data")},
        "web": {"listen": f"127.0.0.1:{port}"},
    })

    async def status_after(action) -> str:
        async with subscriber(mosquitto.port, f"{ROOT}/status") as sub:
            agent = AgentProcess(cfg).start()
            try:
                await collect(sub, lambda g: decode(g[-1].payload).data["state"] == "online")
                rc = await asyncio.to_thread(action, agent)  # keep the subscriber served
                got = await collect(sub, lambda g: decode(g[-1].payload).data["state"]
                                    == "offline")
            finally:
                agent.kill()
        async with subscriber(mosquitto.port, f"{ROOT}/status") as late:  # retained?
            retained = await collect(late, lambda g: len(g) >= 1, timeout=5)
        assert retained[0].retain
        return f"{decode(got[-1].payload).data['state']}/{rc}/" + decode(
            retained[0].payload).data["state"]

    assert await status_after(lambda a: a.kill()) == "offline/None/offline"
    assert await status_after(lambda a: a.terminate()) == "offline/0/offline"


def test_systemd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    port = free_port()
    cfg = write_toml(tmp_path / "agent.toml", {
        "storage": {"data_dir": str(tmp_path / "data")},
        "web": {"listen": f"127.0.0.1:{port}"},
    })
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(sock_path))
        s.settimeout(20)
        agent = AgentProcess(cfg, env={"NOTIFY_SOCKET": str(sock_path),
                                       "WATCHDOG_USEC": "400000"}).start()
        try:
            seen: list[str] = []
            while not any("WATCHDOG=1" in m for m in seen):
                seen.append(s.recv(4096).decode())
            assert any(m.startswith("READY=1") for m in seen)
            while not any(m.startswith("STATUS=uplink") for m in seen):
                seen.append(s.recv(4096).decode())
            assert agent.terminate() == 0
            while not any("STOPPING=1" in m for m in seen):
                seen.append(s.recv(4096).decode())
        finally:
            agent.kill()


@pytest.mark.skipif(os.geteuid() != 0 and not os.access("/tmp", os.W_OK), reason="needs /tmp")
def test_uplink_disabled_keeps_data_queued(tmp_path: Path) -> None:
    """No mqtt.url: the agent runs, queues, and says so in its status."""

    async def go() -> dict[str, Any]:
        from agent.config import from_dict
        from agent.runtime.agent import Agent

        cfg = from_dict({"storage": {"data_dir": str(tmp_path)},
                         "web": {"listen": f"127.0.0.1:{free_port()}"}})
        a = Agent(cfg)
        task = asyncio.create_task(a.run())
        await asyncio.sleep(0.5)
        await a.ctx.bus.publish(DeviceFault(device_id="x", kind="panel", status="fault",
                                            reason="r"))
        st = a.ctx.services["uplink"].status()
        a.request_stop()
        await task
        return st

    st = asyncio.run(go())
    assert st["enabled"] is False and st["outbox_depth"] >= 1


async def test_a_stop_while_subscribing_still_leaves_offline(
    mosquitto, make_config, run_agent, monkeypatch
) -> None:
    """A stop after the birth but before the command subscription is acknowledged used to
    skip the goodbye, and the clean DISCONNECT suppressed the Will: the retained status
    read "online" after the agent had gone (bench/shutdown.py --at-online: 5 of 60)."""
    real = aiomqtt.Client.subscribe
    subscribing = asyncio.Event()

    async def never_acked(self, topic, *a, **kw):
        if not str(topic).endswith("/cmd/#"):
            return await real(self, topic, *a, **kw)
        subscribing.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(aiomqtt.Client, "subscribe", never_acked)
    async with run_agent(make_config(mqtt=fast_mqtt(mosquitto.url))):
        await asyncio.wait_for(subscribing.wait(), 30)
    async with subscriber(mosquitto.port, f"{ROOT}/status") as late:
        got = await collect(late, lambda g: len(g) >= 1, timeout=10)
    assert got[0].retain and decode(got[0].payload).data["state"] == "offline"
