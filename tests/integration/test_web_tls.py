"""Built-in TLS: with web.tls_cert_file / web.tls_key_file the agent serves https:// and
wss:// only. Real TLS clients against a self-signed certificate the test makes with the
openssl CLI: urllib (pages, API), the tablet emulator over wss:// (in process and the
``simulate tablets`` command), the ``classroom-agent status`` CLI; a client that does not
trust the certificate and a plain-HTTP client are refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError
from agent.events import InteractionEvent
from agent.tablets.service import TabletService
from drivers.emulators.tablets import TabletClient
from tests.agentproc import write_toml
from tests.integration.test_tablet_gateway import tablets_cfg, wait_for  # noqa: F401


def self_signed(tmp: Path, name: str = "web") -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl CLI is not installed (scripts/setup.sh --tests installs it)")
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=classroom-agent test", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))  # verifies chain and 127.0.0.1


async def test_https_and_wss_with_a_self_signed_certificate(run_agent, tablets_cfg,  # noqa: F811
                                                            tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    cfg = tablets_cfg()
    cfg.web.tls_cert_file, cfg.web.tls_key_file = str(cert), str(key)
    async with run_agent(cfg) as agent:
        base = agent.web_url
        assert base.startswith("https://127.0.0.1:")

        def get(url: str, context: ssl.SSLContext | None) -> dict[str, Any]:
            with urllib.request.urlopen(url, timeout=5, context=context) as r:
                return json.loads(r.read())

        assert (await asyncio.to_thread(get, base + "/healthz", trusting(cert)))["ok"]
        status = await asyncio.to_thread(get, base + "/api/status", trusting(cert))
        assert "uplink" in status and "tablets" in status
        # a client that does not trust the certificate: the handshake fails
        with pytest.raises(urllib.error.URLError) as e:
            await asyncio.to_thread(get, base + "/healthz", ssl.create_default_context())
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
        # plain HTTP on the TLS port gets no answer it could use
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            await asyncio.to_thread(get, base.replace("https://", "http://") + "/healthz",
                                    None)

        # a tablet over wss:// checks in
        svc = agent.ctx.service(TabletService)
        svc.set_lesson("L-tls", datetime.now(UTC), "c-7a")
        seen: list[InteractionEvent] = []
        agent.ctx.bus.add_listener(
            lambda ev: seen.append(ev) if isinstance(ev, InteractionEvent) else None)
        wss = base.replace("https://", "wss://") + "/ws/tablet"
        c = TabletClient(wss, "tab-01", "stu-001", join_code="7A-2024",
                         ssl_context=trusting(cert))
        welcome = await c.connect()
        assert welcome.lesson is not None
        ack = await c.request(c.checkin())
        assert not ack.duplicate
        await wait_for(lambda: any(ev.kind == "checkin" for ev in seen))
        await c.close()

        # the emulator's command line over wss:// too, and the status CLI over https://
        cfg_file = write_toml(tmp_path / "cli.toml", {
            "storage": {"data_dir": str(tmp_path / "cli-data")},
            "web": {"listen": base.removeprefix("https://"), "tls_cert_file": str(cert),
                    "tls_key_file": str(key)},
        })
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "simulate", "tablets", "--url", wss, "--count", "2",
            "--join-code", "7A-2024", "--duration", "3", "--late", "0", "--absent", "0",
            "--ca-file", str(cert), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(sim.communicate(), 60)
        assert sim.returncode == 0, err.decode()[-2000:]
        assert "refused={}" in out.decode() and "acks=0 " not in out.decode(), out.decode()
        st = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "status", "-c", str(cfg_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(st.communicate(), 60)
        assert st.returncode == 0, err.decode()
        assert '"uplink"' in out.decode()


def test_tls_config_is_checked(tmp_path: Path, make_config) -> None:
    cert, key = self_signed(tmp_path)
    _, other_key = self_signed(tmp_path, "other")
    assert make_config(web={"tls_cert_file": str(cert), "tls_key_file": str(key)})
    for web, problem in [
        ({"tls_cert_file": str(cert)}, "web.tls_cert_file: tls_cert_file and tls_key_file "
                                       "must be given together"),
        ({"tls_cert_file": str(cert), "tls_key_file": str(tmp_path / "nope.key")},
         f"web.tls_key_file: file not found: {tmp_path / 'nope.key'}"),
        ({"tls_cert_file": str(cert), "tls_key_file": str(other_key)},
         "web.tls_cert_file: cannot use the certificate and key"),
        ({"tls_cert_file": str(key), "tls_key_file": str(key)},
         "web.tls_cert_file: cannot use the certificate and key"),
    ]:
        with pytest.raises(ConfigError) as e:
            make_config(web=web)
        assert any(p.startswith(problem) for p in e.value.problems), e.value.problems
