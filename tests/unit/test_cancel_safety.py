"""Python 3.11's asyncio.wait_for can swallow a cancel that races with its result (CPython
gh-86296); a task that swallows its shutdown cancel runs on, and SIGTERM then hung the
agent (a CI failure). The agent and its drivers use asyncio.timeout instead, and give
aiomqtt ``timeout=math.inf`` (a plain await) with the limit around it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> list[Path]:
    return [p for d in ("agent", "drivers", "models") for p in (ROOT / d).rglob("*.py")]


def test_no_asyncio_wait_for() -> None:
    bad = [f"{p.relative_to(ROOT)}:{n}" for p in _sources()
           for n, line in enumerate(p.read_text().splitlines(), 1)
           if "asyncio.wait_for(" in line]
    assert bad == [], f"use asyncio.timeout instead of asyncio.wait_for: {bad}"


def test_aiomqtt_calls_leave_the_time_limit_to_asyncio_timeout() -> None:
    calls = re.findall(r"client\.(?:publish|subscribe|unsubscribe)\((.*?)\)\n",
                       (ROOT / "agent/uplink/mqtt.py").read_text(), re.S)
    assert calls and all("timeout=math.inf" in c for c in calls), calls
