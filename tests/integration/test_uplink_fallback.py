"""MQTT 5 first, 3.1.1 when the broker refuses 5: against amqtt, a real broker that only
speaks 3.1.1 (installed by scripts/setup.sh --tests into its own venv, .work/amqtt)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from agent.events import DeviceFault
from agent.uplink.envelope import decode
from tests.conftest import free_port, wait_port

AMQTT = Path(__file__).resolve().parents[2] / ".work" / "amqtt" / "bin" / "amqtt"


@pytest.fixture
def amqtt_broker(tmp_path: Path):
    if not AMQTT.exists():
        pytest.skip("amqtt broker not installed (scripts/setup.sh --tests makes .work/amqtt)")
    port = free_port()
    conf = tmp_path / "amqtt.yaml"
    conf.write_text(
        f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    log = open(tmp_path / "amqtt.log", "wb")
    proc = subprocess.Popen([str(AMQTT), "-c", str(conf)], stdout=log, stderr=log)
    try:
        wait_port(port, timeout=30)
        yield port
    finally:
        proc.kill()
        proc.wait(10)
        log.close()


async def test_falls_back_to_311_and_delivers(amqtt_broker: int, make_config, run_agent) -> None:
    port = amqtt_broker
    cfg = make_config(mqtt={"url": f"mqtt://127.0.0.1:{port}", "reconnect_min_s": 0.2,
                            "reconnect_max_s": 1.0})
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V311) as sub:
        await sub.subscribe("classroom/test-school/r1/events/#", qos=1)
        async with run_agent(cfg) as agent:
            up = agent.ctx.services["uplink"]
            await agent.ctx.bus.publish(DeviceFault(device_id="p", kind="panel",
                                                    status="fault", reason="over 3.1.1"))
            async with asyncio.timeout(30):
                async for m in sub.messages:
                    assert decode(m.payload).data["reason"] == "over 3.1.1"
                    break
            st = up.status()
            assert st["connected"] and st["protocol"] == "3.1.1"
            assert st["last_error"]  # why it fell back
