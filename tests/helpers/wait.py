"""Waiting for a condition in async tests: generous timeouts, never a timing assertion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_for(pred: Callable[[], Any], timeout: float = 20.0, what: str = "",
                   interval: float = 0.02) -> Any:
    """Wait until ``pred()`` is truthy and return its value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(interval)
