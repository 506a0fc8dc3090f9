"""Shared fixtures: a real mosquitto broker, configs and in-process agents."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import Config, from_dict
from tests.helpers import process


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def zone_at_mid_morning() -> str:
    """A fixed-offset zone where it is about 10:00 now, so a test that builds a timetable
    around now has a lesson now and a next one whatever the hour it runs at."""
    from datetime import UTC, datetime

    offset = 10 - datetime.now(UTC).hour
    if offset > 14:
        offset -= 24
    if offset < -12:
        offset += 24
    return "Etc/GMT" + ("" if offset == 0 else f"{-offset:+d}")  # POSIX sign: inverted


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port}")


class Mosquitto:
    """A real mosquitto on a free loopback port; kill() and start() make an outage."""

    def __init__(self, workdir: Path, persistent: bool = False, extra: list[str] = ()) -> None:
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        # root-run mosquitto would switch to the mosquitto user without `user root`
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "max_inflight_messages 1000", "max_queued_messages 100000", *extra]
        # persistence keeps subscribers' sessions across a clean broker stop (SIGTERM)
        lines += ([f"persistence true\npersistence_location {workdir}/"] if persistent
                  else ["persistence false"])
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.workdir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_port(self.port)

    def kill(self) -> None:
        process.kill(self.proc)

    def stop(self) -> None:
        process.stop(self.proc)


@contextlib.contextmanager
def broker_in_tempdir(prefix: str) -> Iterator[tuple[Path, Mosquitto]]:
    """For bench scripts: a temp dir and a running broker in it, both gone afterwards."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    broker = Mosquitto(tmp)
    try:
        broker.start()
        yield tmp, broker
    finally:
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Any]:
    """``mosquitto_factory(persistent=False, extra=[...])`` -> a started broker; every broker
    made is killed at teardown."""
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.fail("mosquitto is not installed (scripts/setup.sh installs it)")
    made: list[Mosquitto] = []

    def make(persistent: bool = False, extra: list[str] = ()) -> Mosquitto:
        d = tmp_path / f"broker{len(made)}"
        d.mkdir()
        broker = Mosquitto(d, persistent, extra)
        made.append(broker)
        broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in made:
            broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: Any) -> Mosquitto:
    return mosquitto_factory()


@pytest.fixture
def make_config(tmp_path: Path):
    """``make_config(mqtt={"url": ...}, cameras=[...])`` -> a validated Config whose data
    dir is a fresh temp dir and whose web server listens on a free loopback port."""

    def make(**sections: Any) -> Config:
        data: dict[str, Any] = {
            "site": {"school": "test-school", "room": "r1", "timezone": "UTC"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "web": {"listen": f"127.0.0.1:{free_port()}"},
            "health": {"interval_s": 3600.0},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return from_dict(data)

    return make


@pytest.fixture
def run_agent():
    """``async with run_agent(cfg) as agent:`` an in-process agent, stopped cleanly after.
    ``agent.web_url`` is the base URL of its web server."""
    import asyncio

    from agent.runtime.agent import Agent
    from agent.web.app import WebService

    @contextlib.asynccontextmanager
    async def run(cfg: Config, **kw: Any) -> AsyncIterator[Agent]:
        agent = Agent(cfg, **kw)
        ready = asyncio.Event()
        task = asyncio.create_task(agent.run(on_ready=lambda ctx: ready.set()))
        done, _ = await asyncio.wait(
            {task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises the start-up error
        web = agent.ctx.service(WebService)
        agent.web_url = web.url.rstrip("/") if web else ""  # type: ignore[attr-defined]
        try:
            yield agent
        finally:
            agent.request_stop()
            await asyncio.wait_for(task, 30)

    return run
