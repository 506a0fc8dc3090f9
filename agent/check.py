"""``classroom-agent check``: the config is already valid when we get here; probe what it
points at (broker, devices) and print one line per item. Exit 0 only if all are OK."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomqtt

from agent.config import CameraConfig, Config, PanelConfig, read_secret


@dataclass
class Probe:
    name: str
    ok: bool
    detail: str


ProbeFn = Callable[[Config, float], Awaitable[list[Probe]]]


async def probe_broker(cfg: Config, timeout: float) -> list[Probe]:
    if not cfg.mqtt.url:
        return [Probe("mqtt", True, "no mqtt.url: uplink disabled, data stays queued")]

    # lazy: each probe loads only its own part (paho for the broker)
    from agent.uplink.mqtt import _tls_context, client_id

    u = urlsplit(cfg.mqtt.url)
    tls = u.scheme in ("mqtts", "ssl")
    host, port = u.hostname or "localhost", u.port or (8883 if tls else 1883)
    versions = {"5": [aiomqtt.ProtocolVersion.V5], "3.1.1": [aiomqtt.ProtocolVersion.V311]}.get(
        cfg.mqtt.protocol, [aiomqtt.ProtocolVersion.V5, aiomqtt.ProtocolVersion.V311])
    last = ""
    for version in versions:
        try:
            client = aiomqtt.Client(
                host, port,
                identifier=client_id(cfg.mqtt, cfg.site.school, cfg.site.room) + "-check",
                username=cfg.mqtt.username or (unquote(u.username) if u.username else None),
                password=read_secret(cfg.mqtt.password, cfg.mqtt.password_file)
                or (unquote(u.password) if u.password else None),
                protocol=version, tls_context=_tls_context(cfg.mqtt) if tls else None,
                timeout=timeout,
            )
            async with asyncio.timeout(timeout + 1):
                async with client:
                    pass
            name = "5" if version == aiomqtt.ProtocolVersion.V5 else "3.1.1"
            return [Probe("mqtt", True, f"connected to {host}:{port} (MQTT {name})")]
        except (aiomqtt.MqttError, OSError, TimeoutError) as e:
            last = str(e) or type(e).__name__
    return [Probe("mqtt", False, f"cannot connect to {host}:{port}: {last}")]


async def probe_panels(cfg: Config, timeout: float) -> list[Probe]:
    """Each panel: connect and complete one poll, as the agent would."""
    if not cfg.panels:
        return []
    # lazy: each probe loads only its own part (the panel drivers)
    from agent.panel.service import spec_from_config
    from drivers.panel.device import PanelDevice

    async def one(pc: PanelConfig) -> Probe:
        dev = PanelDevice(spec_from_config(pc))
        settled = asyncio.Event()
        dev.add_listener(lambda d: settled.set() if d.status != "offline"
                         or not d.reason.startswith("starting") else None)
        task = asyncio.create_task(dev.run())
        try:
            async with asyncio.timeout(timeout):
                await settled.wait()
        except TimeoutError:
            pass
        # judged before stopping the driver (stopping says "offline: stopped")
        status, reason, st = dev.status, dev.reason, dev.state
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if status == "online" or (status == "offline" and reason.startswith("asleep")):
            return Probe(f"panel {pc.id}", True, f"{pc.protocol}: {status}, power "
                         f"{st.power or '?'}, input {st.input or '?'}"
                         + (f", model {st.model}" if st.model else ""))
        return Probe(f"panel {pc.id}", False, f"{pc.protocol}: {status}: {reason}")

    return list(await asyncio.gather(*(one(pc) for pc in cfg.panels)))


async def probe_cameras(cfg: Config, timeout: float) -> list[Probe]:
    """Each camera: open the stream and read what it carries (no recording)."""
    if not cfg.cameras:
        return []
    # lazy: each probe loads only its own part (PyAV for cameras)
    from agent.recording.service import source_options
    from drivers.camera.source import SourceError, probe
    from drivers.redact import redact

    async def one(cam: CameraConfig) -> Probe:
        opts = source_options(cam, cfg.recording.stall_s)
        try:
            async with asyncio.timeout(timeout + 5):
                info = await asyncio.to_thread(probe, opts)
        except SourceError as e:
            return Probe(f"camera {cam.id}", False, f"{redact(cam.url)}: {e.status}: {e.reason}")
        except TimeoutError:
            return Probe(f"camera {cam.id}", False, f"{redact(cam.url)}: no answer in time")
        how = "remuxed" if info.remux else "encoded with libx264"
        return Probe(f"camera {cam.id}", True, f"{info.codec} {info.width}x{info.height} "
                     f"{info.fps:g} fps{', audio ' + info.audio_codec if info.audio_codec else ''}"
                     f" ({how})")

    return list(await asyncio.gather(*(one(c) for c in cfg.cameras)))


PROBES: list[ProbeFn] = [probe_broker, probe_panels, probe_cameras]


async def run_check(cfg: Config, timeout_s: float = 5.0) -> int:
    print(f"config: OK (school {cfg.site.school}, room {cfg.site.room})")
    results = await asyncio.gather(*(p(cfg, timeout_s) for p in PROBES), return_exceptions=True)
    failed = 0
    for fn, res in zip(PROBES, results, strict=True):
        probes = res if isinstance(res, list) else [
            Probe(fn.__name__.removeprefix("probe_"), False, f"probe failed: {res}")]
        for p in probes:
            failed += not p.ok
            print(f"{p.name}: {'OK' if p.ok else 'FAIL'} {p.detail}",
                  file=sys.stdout if p.ok else sys.stderr)
    return 1 if failed else 0
