"""Semantic checks of the ``[[panels]]`` config entries (types are checked by msgspec)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from drivers.panel.protocols import protocol_class

_SERIAL_ONLY: set[str] = set()
_TCP_ONLY = {"pjlink"}


def check_config(cfg: Any) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, p in enumerate(cfg.panels):
        key = f"panels[{i}]"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", p.id):
            problems.append(f"{key}.id: {p.id!r} must be 1-64 letters, digits, '-', '_' or '.' "
                            "(it is part of MQTT topics)")
        if p.id in seen:
            problems.append(f"{key}.id: duplicate panel id {p.id!r}")
        seen.add(p.id)
        if bool(p.serial) == bool(p.host):
            problems.append(f"{key}: give exactly one of serial (a port path) or host")
        if p.serial and p.protocol in _TCP_ONLY:
            problems.append(f"{key}.serial: {p.protocol} runs over the LAN only; set host")
        if p.host and p.protocol in _SERIAL_ONLY:
            problems.append(f"{key}.host: {p.protocol} runs over RS-232 only; set serial")
        if p.host and p.port is None and protocol_class(p.protocol).default_port is None:
            problems.append(f"{key}.port: {p.protocol} has no standard TCP port; set the port "
                            "of the serial-to-Ethernet adapter")
        if p.port is not None and not 0 < p.port < 65536:
            problems.append(f"{key}.port: must be 1-65535, got {p.port}")
        if p.baud is not None and p.baud not in (1200, 2400, 4800, 9600, 19200, 38400, 57600,
                                                 115200):
            problems.append(f"{key}.baud: unusual baud rate {p.baud}")
        if p.password_file and not Path(p.password_file).is_file():
            problems.append(f"{key}.password_file: file not found: {p.password_file}")
        if (p.password or p.password_file) and p.protocol != "pjlink":
            problems.append(f"{key}.password: only PJLink devices take a password")
        if p.notify_port and p.protocol != "pjlink":
            problems.append(f"{key}.notify_port: only PJLink Class 2 devices send notifications")
        if not 0 <= p.notify_port < 65536:
            problems.append(f"{key}.notify_port: must be 0-65535")
        if not 0 <= p.display_id <= 255:
            problems.append(f"{key}.display_id: must be 0-255")
        for name in ("poll_s", "timeout_s", "connect_timeout_s", "reconnect_min_s"):
            if getattr(p, name) <= 0:
                problems.append(f"{key}.{name}: must be > 0")
        if p.reconnect_max_s < p.reconnect_min_s:
            problems.append(f"{key}.reconnect_max_s: must be >= reconnect_min_s")
        if p.retries < 0:
            problems.append(f"{key}.retries: must be >= 0")
        a = p.automation
        if a.idle_off_min < 0 or a.after_last_lesson_min < 0:
            problems.append(f"{key}.automation: minutes must be >= 0")
        if a.lesson_input is not None and _input_code(p.protocol, a.lesson_input,
                                                      p.input_names) is None:
            problems.append(f"{key}.automation.lesson_input: unknown input {a.lesson_input!r} "
                            f"for {p.protocol}")
    return problems


def _input_code(protocol: str, name: str, names: dict[str, str]) -> str | None:
    reverse = {v.lower(): k for k, v in names.items()}
    return protocol_class(protocol).input_code(reverse.get(name.lower(), name))
