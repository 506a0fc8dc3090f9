"""The allow-list of commands the agent accepts from outside (MQTT, HTTP, CLI).

A command has a name (``ping``, ``record/start``), an args struct that validates its
input, and an async handler returning a JSON-able result. Transports (the uplink's
``cmd/{name}`` topics, the web API) parse their input and call ``dispatch``; they never
call handlers directly, so every command is validated and counted the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command refused with a reason the caller can act on."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    args_type: type[msgspec.Struct]
    handler: Handler
    doc: str


class CommandResult(msgspec.Struct, kw_only=True):
    ok: bool
    result: Any = None
    error: dict[str, str] | None = None


class CommandRegistry:
    def __init__(self, on_outcome: Callable[[str, str], None] | None = None) -> None:
        self._commands: dict[str, Command] = {}
        self._on_outcome = on_outcome or (lambda name, outcome: None)

    def register(
        self, name: str, handler: Handler, args_type: type[msgspec.Struct] = NoArgs, doc: str = ""
    ) -> None:
        if name in self._commands:
            raise ValueError(f"command {name!r} registered twice")
        self._commands[name] = Command(name, args_type, handler, doc)

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    async def dispatch(self, name: str, raw_args: Any) -> CommandResult:
        """Validate and run one command; never raises."""
        cmd = self._commands.get(name)
        if cmd is None:
            return self._fail(name, "unknown_command", f"unknown command {name!r}")
        if raw_args is None:
            raw_args = {}
        try:
            args = msgspec.convert(raw_args, cmd.args_type, strict=True)
        except msgspec.ValidationError as e:
            return self._fail(name, "bad_args", str(e).replace("$.", "args."))
        try:
            result = await cmd.handler(args)
        except CommandError as e:
            return self._fail(name, e.code, e.message)
        except Exception as e:  # a handler bug must not take the agent down
            log.exception("command %s failed", name)
            return self._fail(name, "internal_error", f"{type(e).__name__}: {e}")
        self._on_outcome(name, "ok")
        return CommandResult(ok=True, result=msgspec.to_builtins(result))

    def _fail(self, name: str, code: str, message: str) -> CommandResult:
        self._on_outcome(name if name in self._commands else "(unknown)", code)
        return CommandResult(ok=False, error={"code": code, "message": message})
