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
