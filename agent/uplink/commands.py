"""Commands over MQTT: parse ``cmd/{name}`` requests, dispatch, build the reply.

Request payload (JSON object, all optional): ``{"id": "<correlation id>", "args": {...}}``;
an empty payload is a request with no args. The reply, on ``cmd/{name}/reply`` (or the MQTT 5
response topic), is an envelope of type ``cmd_reply`` whose data is
``{"id", "command", "ok", "result" | "error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from agent.commands import CommandRegistry, CommandResult


class CommandRequest(msgspec.Struct, forbid_unknown_fields=True):
    id: str | None = None
    args: dict[str, Any] | None = None


class CommandReply(msgspec.Struct, kw_only=True):
    id: str | None
    command: str
    ok: bool
    result: Any = None
    error: dict[str, str] | None = None


_decoder = msgspec.json.Decoder(CommandRequest)


def _error(corr: str | None, name: str, code: str, message: str) -> CommandReply:
    return CommandReply(id=corr, command=name, ok=False, error={"code": code, "message": message})


def screen(registry: CommandRegistry, name: str, payload: bytes, max_bytes: int) -> str | None:
    """The cheap checks, made before a request may take one of the few command slots: the
    refusal code (``too_large``, ``unknown_command``, ``bad_json``, ``bad_request``) or
    None when it may run. A flood of garbage is then refused without crowding out valid
    commands; ``handle`` makes the same checks again to build the reply."""
    if len(payload) > max_bytes:
        return "too_large"
    if registry.get(name) is None:
        return "unknown_command"
    if payload.strip():
        try:
            _decoder.decode(payload)
        except msgspec.ValidationError:
            return "bad_request"
        except (msgspec.DecodeError, RecursionError):
            return "bad_json"
    return None


class LogThrottle:
    """At most one log line per key every ``interval_s``; the lines held back meanwhile are
    counted and their number is told with the next line (counters keep the totals)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = logger
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held and last is not None:  # lines are held only after a first one
            msg += f" (and {held} more like it in the last {now - last:.0f} s)"
        self.log.warning(msg, *args)
        return True


async def handle(
    registry: CommandRegistry, name: str, payload: bytes, max_bytes: int
) -> tuple[CommandReply, str]:
    """Parse and dispatch one request; never raises. Returns (reply, outcome code)."""
    if len(payload) > max_bytes:
        return _error(None, name, "too_large", f"payload over {max_bytes} bytes"), "too_large"
    req = CommandRequest()
    if payload.strip():
        try:
            req = _decoder.decode(payload)
        except msgspec.ValidationError as e:
            return _error(None, name, "bad_request", str(e).replace("$.", "")), "bad_request"
        except msgspec.DecodeError as e:
            return _error(None, name, "bad_json", f"not JSON: {e}"), "bad_json"
        except RecursionError:
            return _error(None, name, "bad_json", "JSON nested too deeply"), "bad_json"
    result: CommandResult = await registry.dispatch(name, req.args)
    reply = CommandReply(id=req.id, command=name, ok=result.ok, result=result.result,
                         error=result.error)
    return reply, "ok" if result.ok else (result.error or {}).get("code", "error")
