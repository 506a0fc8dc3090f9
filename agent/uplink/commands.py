"""Commands over MQTT: parse ``cmd/{name}`` requests, dispatch, build the reply.

Request payload (JSON object, all optional): ``{"id": "<correlation id>", "args": {...}}``;
an empty payload is a request with no args. The reply, on ``cmd/{name}/reply`` (or the MQTT 5
response topic), is an envelope of type ``cmd_reply`` whose data is
``{"id", "command", "ok", "result" | "error": {"code", "message"}}``.
"""

from __future__ import annotations

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
