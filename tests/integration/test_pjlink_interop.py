"""Interoperability with PJLink code not written here.

- our emulator driven by the ``aiopjlink`` client (PyPI);
- our client against ``pjlink-advance``'s emulator, which needs Python >= 3.13: skipped
  (with the reason) when this machine has no such interpreter or package.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.emulators.pjlink import PjlinkEmulator
from drivers.panel import PanelSpec, ProtocolOptions, TcpTarget

pytest.importorskip("aiopjlink")


@pytest.fixture
async def projector():
    emu = PjlinkEmulator(password="JBMIAProjectorLink")
    await emu.start_tcp("127.0.0.1", 0)
    try:
        yield emu
    finally:
        await emu.stop()


async def test_aiopjlink_controls_our_emulator(projector: PjlinkEmulator) -> None:
    from aiopjlink import PJLink, Power, Sources

    async with PJLink(address="127.0.0.1", port=projector.port, password="JBMIAProjectorLink",
                      timeout=5) as link:
        assert await link.power.get() == Power.State.OFF
        await link.power.turn_on()
        assert await link.power.get() == Power.State.ON
        await link.sources.set(Sources.Mode.DIGITAL, "2")
        assert await link.sources.get() == (Sources.Mode.DIGITAL, "2")
        assert projector.input == "32"
        available = await link.sources.available()
        assert (Sources.Mode.DIGITAL, "1") in available
        await link.mute.both(True)
        assert await link.mute.status() == (True, True)
        errors = await link.errors.query()
        assert all(level.value == "0" for level in errors.values())
        assert (await link.lamps.status())[0][0] == projector.lamp_hours
        info = await link.info.table()
        assert info["manufacturer_name"] == "ACME"
        assert info["product_name"] == "PJ-5000"
        assert info["serial_number"] == projector.serial
        assert info["pjlink_class"].value == "2"
        await link.power.turn_off()
        assert projector.power == "0"


async def test_aiopjlink_sees_our_error_replies(projector: PjlinkEmulator) -> None:
    from aiopjlink import PJLink, PJLinkERR2, PJLinkERR3, Sources

    async with PJLink(address="127.0.0.1", port=projector.port, password="JBMIAProjectorLink",
                      timeout=5) as link:
        with pytest.raises(PJLinkERR3):  # input change while the projector is off
            await link.sources.set(Sources.Mode.DIGITAL, "1")
        await link.power.turn_on()
        with pytest.raises(PJLinkERR2):  # no such input
            await link.sources.set(Sources.Mode.STORAGE, "9")


async def test_aiopjlink_wrong_password_is_rejected(projector: PjlinkEmulator) -> None:
    from aiopjlink import PJLink, PJLinkPassword

    with pytest.raises(PJLinkPassword):
        async with PJLink(address="127.0.0.1", port=projector.port, password="nope", timeout=5):
            pass
    assert projector.auth_failures == 1


ROOT = Path(__file__).resolve().parents[2]


def _pjlink_advance_python() -> tuple[str | None, str]:
    """An interpreter >= 3.13 that can import pjlink_advance, or (None, why not).

    Looked for: $PJLINK_ADVANCE_PYTHON, the repo's .work/py313 venv (scripts/setup.sh makes
    it where a 3.13 exists), python3.13/python3.14 on PATH and pyenv's versions."""
    candidates = [os.environ.get("PJLINK_ADVANCE_PYTHON"), str(ROOT / ".work/py313/bin/python"),
                  shutil.which("python3.14"), shutil.which("python3.13"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3")))]
    found_313 = []
    for py in filter(None, candidates):
        try:
            ok = subprocess.run([py, "-c", "import sys; assert sys.version_info >= (3, 13)"],
                                capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not ok:
            continue
        found_313.append(py)
        if subprocess.run([py, "-c", "import pjlink_advance"], capture_output=True,
                          timeout=20).returncode == 0:
            return py, ""
    if not found_313:
        return None, (f"pjlink-advance needs Python >= 3.13; this machine has "
                      f"{sys.version.split()[0]} and no python3.13 (PATH, pyenv)")
    return None, (f"pjlink-advance is not installed for {found_313[0]} "
                  "(python3.13 -m venv .work/py313 && .work/py313/bin/pip install pjlink-advance)")


@contextlib.contextmanager
def pjlink_advance_emulator(password: str | None) -> Iterator[int]:
    py, why = _pjlink_advance_python()
    if py is None:
        pytest.skip(why)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [py, "-m", "pjlink_advance.emulator", "--host", "127.0.0.1", "--port", str(port),
           "--transition-delay", "0"]
    if password:
        cmd += ["--password", password]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "listening" in line, f"pjlink-advance emulator did not start: {line!r}"
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_our_client_against_pjlink_advance_emulator() -> None:
    from tests.helpers.panel import running
    from tests.helpers.wait import wait_for

    with pjlink_advance_emulator("adv-secret") as port:
        spec = PanelSpec("p1", "pjlink", TcpTarget("127.0.0.1", port),
                         ProtocolOptions(timeout_s=2.0, password="adv-secret"), poll_s=0.3,
                         reconnect_min_s=0.1, reconnect_max_s=0.5)
        async with running(spec) as dev:
            await wait_for(lambda: dev.status == "online", what="online", timeout=20)
            assert dev.state.model == "EPSON EB-L735U"
            assert dev.state.serial == "X8JK0000001"
            assert dev.state.power == "off"
            await dev.power(True)
            await wait_for(lambda: dev.state.power == "on", what="power on")
            await dev.select_input("DIGITAL2")
            assert dev.state.input == "DIGITAL2"
            await dev.power(False)
            await wait_for(lambda: dev.state.power == "off", what="power off")


async def test_wrong_password_against_pjlink_advance_emulator() -> None:
    from tests.helpers.panel import running
    from tests.helpers.wait import wait_for

    with pjlink_advance_emulator("adv-secret") as port:
        spec = PanelSpec("p1", "pjlink", TcpTarget("127.0.0.1", port),
                         ProtocolOptions(timeout_s=2.0, password="wrong"),
                         reconnect_min_s=0.1, reconnect_max_s=0.5)
        async with running(spec) as dev:
            await wait_for(lambda: dev.status == "fault", what="fault", timeout=20)
            assert dev.reason.startswith("auth_failed")
