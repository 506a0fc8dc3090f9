"""The shipped unit file keeps the properties the design asks for."""

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "classroom-agent.service"


def test_unit_is_notify_watchdog_hardened() -> None:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # keys are case-sensitive in systemd
    p.read_string(UNIT.read_text())
    s = p["Service"]
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0
    assert s["Restart"] == "on-failure" and s["User"] == "classroom-agent"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[key] == "yes"
    assert s["ProtectSystem"] == "strict"
    assert "/var/lib/classroom-agent" in s["ReadWritePaths"]
    assert set(s["SupplementaryGroups"].split()) == {"dialout", "video"}
    assert "75" in s["RestartForceExitStatus"]
    assert " run -c " in s["ExecStart"]


def test_pre_start_only_validates_the_config() -> None:
    """A room must start while the broker, a panel or a camera is unreachable: the pre-start
    step may not probe them (tests/integration/test_systemd_offline.py runs it)."""
    pre = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
           if line.startswith("ExecStartPre=")]
    assert pre and all(" check " in p and "--config-only" in p for p in pre if " check" in p)
    assert not [p for p in pre if " check " in p and "--timeout" in p]
