"""mqtts:// with a private CA, a client certificate and a password file, against a real
mosquitto that requires all three; and a clear error when the CA is wrong."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from agent.events import DeviceFault
from agent.uplink.envelope import decode
from tests.conftest import Mosquitto

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI not installed")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path, name: str = "ca") -> dict[str, Path]:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=test {name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=d)
    for who, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:r1")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout",
                f"{who}.key", "-out", f"{who}.csr", cwd=d)
        (d / f"{who}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", f"{name}.crt", "-CAkey",
                f"{name}.key", "-CAcreateserial", "-days", "2", "-out", f"{who}.crt",
                "-extfile", f"{who}.ext", cwd=d)
    files = {k: d / k for k in ("server.crt", "server.key", "client.crt", "client.key")}
    return {"ca.crt": d / f"{name}.crt", **files}


async def test_mutual_tls_with_password_file(tmp_path: Path, make_config, run_agent) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    p = make_pki(pki)
    (tmp_path / "pw").write_text("s3cret\n")
    passwd = tmp_path / "passwd"
    passwd.write_text("room-r1:s3cret\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    broker = Mosquitto(tmp_path, extra=[
        f"cafile {p['ca.crt']}", f"certfile {p['server.crt']}", f"keyfile {p['server.key']}",
        "require_certificate true", f"password_file {passwd}",
    ])
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true",
                                                           "allow_anonymous false"))
    broker.start()
    try:
        cfg = make_config(mqtt={
            "url": f"mqtts://127.0.0.1:{broker.port}", "ca_file": str(p["ca.crt"]),
            "cert_file": str(p["client.crt"]), "key_file": str(p["client.key"]),
            "username": "room-r1", "password_file": str(tmp_path / "pw"),
            "reconnect_min_s": 0.2, "reconnect_max_s": 1.0,
        })
        tls = ssl.create_default_context(cafile=str(p["ca.crt"]))
        tls.load_cert_chain(str(p["client.crt"]), str(p["client.key"]))
        async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=tls,
                                  username="room-r1", password="s3cret") as sub:
            await sub.subscribe("classroom/test-school/r1/#", qos=1)
            async with run_agent(cfg) as agent:
                await agent.ctx.bus.publish(DeviceFault(device_id="p", kind="panel",
                                                        status="fault", reason="tls"))
                got = []
                async with asyncio.timeout(20):
                    async for m in sub.messages:
                        got.append(m.topic.value)
                        if m.topic.value.endswith("events/device"):
                            assert decode(m.payload).data["reason"] == "tls"
                            break
                assert agent.ctx.services["uplink"].status()["connected"]
        assert "classroom/test-school/r1/status" in got
    finally:
        broker.kill()


async def test_wrong_ca_is_a_clear_error(tmp_path: Path, make_config, run_agent) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    p = make_pki(good)
    q = make_pki(bad, "other")
    broker = Mosquitto(tmp_path, extra=[f"cafile {p['ca.crt']}",
                                        f"certfile {p['server.crt']}",
                                        f"keyfile {p['server.key']}"])
    broker.start()
    try:
        cfg = make_config(mqtt={"url": f"mqtts://127.0.0.1:{broker.port}",
                                "ca_file": str(q["ca.crt"]),
                                "reconnect_min_s": 0.2, "reconnect_max_s": 0.5})
        async with run_agent(cfg) as agent:
            up = agent.ctx.services["uplink"]
            async with asyncio.timeout(20):
                while "certificate" not in up.status()["last_error"].lower():
                    await asyncio.sleep(0.1)
            assert not up.status()["connected"]
    finally:
        broker.kill()
